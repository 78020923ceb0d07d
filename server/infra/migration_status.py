"""Is the database at the newest migration? Asked by `db upgrade` before it builds the app, and
by the readiness probe, so the web server may boot while the migration still runs.

Any doubt (bad settings, no database, no version table, several heads) answers False; the
command line then takes the full path, which reports the real problem. So does a bootstrap
admin token (APP_BOOTSTRAP_ADMIN_TOKEN) that is not stored yet: the full path stores it, and
so does APP_DB_CA_FILE: the full path connects through the app's engine, which verifies the
server's certificate against it (this shortcut would connect as libpq's default allows).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import SecretStr
    from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
# The PostgreSQL advisory lock every migration run takes first (server/migrations/env.py): any
# fixed 64-bit number, the same in every instance of this app.
MIGRATION_LOCK_KEY = 0x666E735F6D696772  # "fns_migr"


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s) of the migration scripts shipped with this code.

    Read from the scripts' `revision` and `down_revision` assignments rather than through
    Alembic, whose import (and its plugin set-up) cost a web worker's first readiness probe
    0.13 s idle and seconds under load; tests/test_migrations.py checks both agree.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        values = _assignments(script, ("revision", "down_revision"))
        revisions.add(str(values["revision"]))
        down = values.get("down_revision")  # None, a revision, or a tuple of them (a merge)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(each) for each in down)
    return frozenset(revisions - parents)


def _assignments(script: Path, names: tuple[str, ...]) -> dict[str, object]:
    values = {}
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in names:
                values[target.id] = ast.literal_eval(node.value)
    return values


def at_head(connection: Connection) -> bool:
    """The schema behind ``connection`` is at the one head; False also without a version table."""
    from sqlalchemy import text

    heads = head_revisions()
    exists = connection.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists:
        return False
    current = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    return len(heads) == 1 and current == heads


def database_at_head() -> bool:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    from server.config import SettingsError, load_settings
    from server.infra.database_encoding import CLIENT_ENCODING

    try:
        settings = load_settings()
    except SettingsError:
        return False
    if settings.db_ca_file:
        return False
    engine = create_engine(
        settings.database_url.get_secret_value(),
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            "client_encoding": CLIENT_ENCODING,
        },
        poolclass=NullPool,  # one query, then gone
    )
    bootstrap = settings.bootstrap_admin_token
    try:
        with engine.connect() as connection:
            if bootstrap is not None and not token_stored(connection, bootstrap):
                return False  # the full path stores it (server/cli/__init__.py)
            return at_head(connection)
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def token_stored(connection: Connection, token: SecretStr) -> bool:
    """Is APP_BOOTSTRAP_ADMIN_TOKEN's prefix in api_tokens? (fns_<prefix>_<secret>)"""
    from sqlalchemy import text

    parts = token.get_secret_value().split("_")
    if len(parts) < 3:
        return False
    query = text("SELECT 1 FROM api_tokens WHERE prefix = :prefix")
    return connection.scalar(query, {"prefix": parts[1]}) is not None
