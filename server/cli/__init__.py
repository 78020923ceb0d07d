"""The ``flask-nix-stack`` command: Flask's CLI (run, routes, shell, db ...) plus our commands.

The group itself (server/cli/group.py) builds the whole app. `db upgrade` on a database that is
already at the newest revision, what every start of the stack and of the NixOS service runs,
is answered before that, from the settings, Alembic's script directory and one query (about
half a second sooner). `serve` starts the production server (server/serve.py) without building
the app in this process at all.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        # The production server: it imports the app in its workers, not here.
        from server.serve import main as serve

        serve(sys.argv[2:])
        return
    if sys.argv[1:] == ["db", "upgrade"]:
        from server.infra.migration_status import database_at_head

        if database_at_head():
            print("database already at the newest revision; nothing to upgrade")
            return
    from server.cli.group import cli

    cli(prog_name="flask-nix-stack")
