"""``serve`` as --help lists it. server/cli/__init__.py runs ``flask-nix-stack serve`` before the
group is even imported (the production server imports the app in its workers, not here); this
command is what --help shows, and what a call through the group itself (``python -m server``
goes through main too) would run."""

from __future__ import annotations

import click


@click.command(
    "serve",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve_command(args: tuple[str, ...]) -> None:
    """Run the production server: granian, or gunicorn with APP_SERVER=gunicorn (arguments go to
    gunicorn)."""
    from server.serve import main

    main(list(args))
