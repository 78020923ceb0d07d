"""Is the database at the newest migration? Answered without building the app.

Any doubt (bad settings, no database, no version table, several heads) answers False, and the
caller then takes the full path, which reports the real problem. So does a bootstrap admin token
(APP_BOOTSTRAP_ADMIN_TOKEN) that is not stored yet: the full path stores it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import SecretStr
    from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
# The PostgreSQL advisory lock every migration run takes first (server/migrations/env.py): any
# fixed 64-bit number, the same in every instance of this app.
MIGRATION_LOCK_KEY = 0x666E735F6D696772  # "fns_migr"


def database_at_head() -> bool:
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    from server.config import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError:
        return False
    heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
    engine = create_engine(
        settings.database_url.get_secret_value(),
        connect_args={"connect_timeout": settings.db_connect_timeout},
        poolclass=NullPool,  # one query, then gone
    )
    bootstrap = settings.bootstrap_admin_token
    try:
        with engine.connect() as connection:
            current = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
            if bootstrap is not None and not _token_stored(connection, bootstrap):
                return False  # the full path stores it (server/cli/__init__.py)
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return len(heads) == 1 and current == heads


def _token_stored(connection: Connection, token: SecretStr) -> bool:
    """Is APP_BOOTSTRAP_ADMIN_TOKEN's prefix in api_tokens? (fns_<prefix>_<secret>)"""
    from sqlalchemy import text

    parts = token.get_secret_value().split("_")
    if len(parts) < 3:
        return False
    query = text("SELECT 1 FROM api_tokens WHERE prefix = :prefix")
    return connection.scalar(query, {"prefix": parts[1]}) is not None
