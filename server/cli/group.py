"""The ``flask-nix-stack`` command: Flask's CLI (run, routes, shell, db ...) plus our commands."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from server.app import create_app_or_exit
from server.cli.access_commands import principals_group, tokens_group
from server.cli.config_command import config_group
from server.cli.seed_command import seed_command
from server.infra import migration_commands


def app_or_exit() -> Flask:
    """The app with migrations set up, or exit 2 with one line naming the bad setting."""
    app = create_app_or_exit()
    migration_commands.init_app(app)
    return app


@click.group(cls=FlaskGroup, create_app=app_or_exit, load_dotenv=False, set_debug_flag=False)
def cli() -> None:
    """Manage the flask-nix-stack server."""


cli.add_command(config_group)
cli.add_command(seed_command)
cli.add_command(principals_group)
cli.add_command(tokens_group)
