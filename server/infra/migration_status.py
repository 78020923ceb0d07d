"""Is the database at the newest migration? Answered without building the app.

Any doubt (bad settings, no database, no version table, several heads) answers False, and the
caller then takes the full path, which reports the real problem.
"""

from __future__ import annotations

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


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
    try:
        with engine.connect() as connection:
            current = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return len(heads) == 1 and current == heads
