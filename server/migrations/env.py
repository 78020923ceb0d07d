"""Alembic environment: runs inside the app, whether started by the CLI or by ``alembic``."""

from __future__ import annotations

from alembic import context
from flask import Flask, current_app, has_app_context

from server.infra.database import db


def run_migrations(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()


def _app() -> Flask:
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    # Plain `alembic -c alembic.ini ...`: build the app from the environment's settings.
    from server.cli.group import app_or_exit

    return app_or_exit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations(_app())
