"""Alembic environment: runs inside the app, whether started by the CLI or by ``alembic``."""

from __future__ import annotations

from alembic import context
from flask import Flask, current_app, has_app_context
from sqlalchemy import text

from server.infra.database import db
from server.infra.database_encoding import require_utf8
from server.infra.migration_status import MIGRATION_LOCK_KEY


def run_migrations(app: Flask) -> None:
    """Migrate in one transaction that first takes the migration lock.

    Instances started at the same time all run ``db upgrade``: the first to take the lock
    migrates, the others wait for its commit, then read the version it wrote and find nothing to
    do. A transaction-level lock, not a session one, so it also holds through PgBouncer in
    transaction mode, and it cannot outlive the transaction. The API's statement timeout would
    cancel a long migration or a long wait for the lock, so it is lifted for this transaction.
    """
    with app.app_context(), db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            require_utf8(connection)  # before anything is created
            connection.execute(text("SET LOCAL statement_timeout = 0"))
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            context.run_migrations()


def _app() -> Flask:
    if has_app_context():
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        return app
    # Plain `alembic -c alembic.ini ...`: build the app from the environment's settings.
    from server.cli.migrations_app import create_migrations_app_or_exit

    return create_migrations_app_or_exit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations(_app())
