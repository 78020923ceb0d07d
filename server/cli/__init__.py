"""The ``flask-nix-stack`` command: Flask's CLI (run, routes, shell, db ...) plus our commands."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from server.app import create_app
from server.cli.config_command import config_group
from server.cli.seed_command import seed_command
from server.config import SettingsError


def app_or_exit() -> Flask:
    """The app, or exit 2 with one line naming the bad setting (no traceback)."""
    try:
        return create_app()
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=app_or_exit, load_dotenv=False, set_debug_flag=False)
def cli() -> None:
    """Manage the flask-nix-stack server."""


cli.add_command(config_group)
cli.add_command(seed_command)


def main() -> None:
    cli(prog_name="flask-nix-stack")
