"""Migrations (Flask-Migrate over the Alembic scripts in server/migrations).

Set up only for the command line and the tests: importing Alembic costs the web workers about
0.13 s at every start and buys them nothing.
"""

from __future__ import annotations

from flask import Flask

from server.infra.database import db
from server.infra.migration_status import MIGRATIONS_DIR


def init_app(app: Flask) -> None:
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(MIGRATIONS_DIR), compare_type=True)
