"""The ``flask-nix-stack`` command: Flask's CLI (run, routes, shell, db ...) plus our commands."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from server.cli.access_commands import principals_group, tokens_group
from server.cli.config_command import config_group
from server.cli.seed_command import seed_command


def app_or_exit() -> Flask:
    """The app with migrations set up, or exit 2 with one line naming the bad setting."""
    if _reloader_parent():
        # `run --reload`: this process only restarts a child process, which imports and builds
        # (and checks) the app itself; building it here too doubled that work in dev start-up.
        return Flask(__name__)
    from server.app import create_app_or_exit
    from server.infra import migration_commands

    app = create_app_or_exit()
    migration_commands.init_app(app)
    return app


def _reloader_parent() -> bool:
    """Is this `run` with the reloader, in the process that will not serve?"""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "run" or is_running_from_reloader():
        return False
    reload = ctx.params.get("reload")
    return bool(get_debug_flag() if reload is None else reload)


@click.group(cls=FlaskGroup, create_app=app_or_exit, load_dotenv=False, set_debug_flag=False)
def cli() -> None:
    """Manage the flask-nix-stack server."""


cli.add_command(config_group)
cli.add_command(seed_command)
cli.add_command(principals_group)
cli.add_command(tokens_group)
