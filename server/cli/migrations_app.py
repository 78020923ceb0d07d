"""The app the ``db`` commands (Flask-Migrate over Alembic) run in: settings, logging, database.

Migrations use none of the HTTP side (routes, schemas, Redis, rate limits, middleware, docs),
whose modules were most of what a `db upgrade` on a new database imported and built. The
settings are still loaded and checked whole, as for the server: a bad one stops the command
with one line naming it.
"""

from __future__ import annotations

from flask import Flask

from server.config import Settings, load_settings, settings_or_exit
from server.infra import database
from server.logs import configure_logging
from server.middleware import sentry


def create_migrations_app(settings: Settings | None = None) -> Flask:
    """The database bound with every model, from ``settings`` (default: the environment)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.extensions["settings"] = settings  # read through server.config.runtime
    database.configure(app, settings)
    configure_logging(settings)
    sentry.init(settings)
    # Every table in db.metadata: `db migrate` and `db check` compare them with the database.
    import server.models  # noqa: F401

    database.init_app(app)
    return app


def create_migrations_app_or_exit() -> Flask:
    with settings_or_exit():
        return create_migrations_app()
