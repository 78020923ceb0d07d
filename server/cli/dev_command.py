"""``dev`` as --help lists it. server/cli/__init__.py runs ``flask-nix-stack dev`` before the
group is even imported (the reloader's outer process needs neither click nor Flask); this
command is what --help shows, and what a call through the group itself would run."""

from __future__ import annotations

import click


@click.command(
    "dev",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dev_command(args: tuple[str, ...]) -> None:
    """Run the development server: debugger on, restarted on code changes (--host, --port)."""
    from server.cli.dev_server import main

    main(list(args))
