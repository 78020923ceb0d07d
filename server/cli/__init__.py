"""The ``flask-nix-stack`` command: Flask's CLI (run, routes, shell, db ...) plus our commands.

The group (server/cli/group.py) builds the whole app for the commands that need it, and
imports our own commands only when they are named. `db upgrade` on a database that is
already at the newest revision, what every start of the stack and of the NixOS service runs,
is answered before that, from the settings, Alembic's script directory and one query (about
half a second sooner). `serve` starts the production server (server/serve.py) without building
the app in this process at all, and `dev` the development server (server/cli/dev_server.py)
without click or Flask's command line in the reloader's outer process.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """The command with ``argv`` (default: the process's arguments). It ends by returning or by
    SystemExit, never by exiting the process itself, so the tests can run it in theirs.

    A database or Redis that cannot be reached, or refuses the command, ends it with one line
    (exit 1) instead of a traceback: the operator's next step is on that line."""
    try:
        _command(list(sys.argv[1:] if argv is None else argv))
    except Exception as exc:
        # Imported only now: the dev server's outer process imports werkzeug and nothing else.
        from server.cli.backend_errors import backend_error

        message = backend_error(exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        raise SystemExit(1) from None


def _command(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        # The production server: it imports the app in its workers, not here.
        from server.serve import main as serve

        serve(argv[1:])
        return
    if argv[:1] == ["dev"]:
        # The reloader's outer process only restarts its child, which builds the app.
        from server.cli.dev_server import main as dev

        dev(argv[1:])
        return
    # The command's imports run with the collector paused, then frozen (server/startup.py):
    # `config check` spent a third of its CPU in collections, most in the last one, at exit.
    from server.startup import collector_paused

    if argv == ["db", "upgrade"]:
        from server.infra.migration_status import database_at_head

        with collector_paused():
            at_head = database_at_head()
        if at_head:
            print("database already at the newest revision; nothing to upgrade")
            return
    with collector_paused():
        from server.cli.group import asks_for_help, cli

    # Not after `db upgrade --help`: help changes nothing.
    upgrade = argv[:2] == ["db", "upgrade"] and not asks_for_help(cli, argv)
    bootstrap = upgrade and _bootstrap_token_set()

    if not bootstrap:
        cli.main(args=argv, prog_name=PROG)
        return
    # A first admin token from a credential file (NixOS LoadCredential, /run/secrets): stored
    # by every `db upgrade` that finds it missing, so a fresh host is usable without a shell.
    import click

    try:
        cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    cli(args=["tokens", "bootstrap"], prog_name=PROG)


PROG = "flask-nix-stack"


def _bootstrap_token_set() -> bool:
    from server.config import SettingsError, load_settings

    try:
        return load_settings().bootstrap_admin_token is not None
    except SettingsError:
        return False
