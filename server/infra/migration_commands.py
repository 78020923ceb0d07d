"""Migrations (Flask-Migrate over the Alembic scripts in server/migrations).

Set up only for the command line and the tests: importing Alembic costs the web workers about
0.13 s at every start and buys them nothing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from flask import Flask

from server.infra.database import db
from server.infra.migration_status import MIGRATIONS_DIR

if TYPE_CHECKING:
    from alembic.config import Config


def init_app(app: Flask) -> None:
    from flask_migrate import Migrate

    migrate = Migrate(app, db, directory=str(MIGRATIONS_DIR), compare_type=True)
    # typeshed's Flask-Migrate stub does not derive its Config from Alembic's, as the real one does.
    migrate.configure(print_to_current_stdout)  # pyright: ignore[reportArgumentType]


def print_to_current_stdout(config: Config) -> Config:
    """Alembic's Config prints (`db current`, `db history` ...) to the sys.stdout of the moment
    alembic was first imported (a default argument's value); this one prints to the sys.stdout
    of the command, so its output follows a redirection (contextlib.redirect_stdout, the tests'
    in-process runner) as click.echo's does."""
    config.stdout = sys.stdout
    return config
