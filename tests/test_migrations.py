"""Migrations: up, down, up again; and the models match them (no drift)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from server.infra import migration_commands
from server.infra.database import db

from support.apps import build_app
from support.servers import Postgres
from support.settings import make_settings

TABLES = {"alembic_version", "projects", "tasks", "tags", "task_tags", "principals", "api_tokens"}


@pytest.fixture(scope="module")
def scratch_app(pg: Postgres, redis_url: str) -> Iterator[Flask]:
    app = build_app(make_settings(pg.create_database("fns_migrations"), redis_url))
    migration_commands.init_app(app)
    with app.app_context():
        yield app
        db.engine.dispose()


def tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def drift() -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, db.metadata))


def test_upgrade_downgrade_upgrade(scratch_app: Flask) -> None:
    upgrade()
    assert tables() == TABLES
    downgrade(revision="base")
    assert tables() == {"alembic_version"}
    upgrade()
    assert tables() == TABLES


def test_models_match_migrations(scratch_app: Flask) -> None:
    upgrade()
    assert drift() == []


def test_drift_is_detected(scratch_app: Flask) -> None:
    """The check above can fail: a column the models lack shows up as a difference."""
    upgrade()
    with db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE projects ADD COLUMN stray integer"))
    try:
        differences = drift()
        assert any("stray" in str(d) for d in differences), differences
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE projects DROP COLUMN stray"))


def test_alembic_ini_for_developers(scratch_app: Flask, pg: Postgres, redis_url: str) -> None:
    """Plain `alembic` with the top-level alembic.ini builds the app from the environment."""
    import subprocess
    from pathlib import Path

    from support.processes import app_env, script

    root = Path(__file__).resolve().parent.parent
    env = app_env(pg.create_database("fns_alembic"), redis_url)
    alembic = script("alembic")
    for args in (["upgrade", "head"], ["current"]):
        result = subprocess.run(
            [alembic, "-c", str(root / "alembic.ini"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert "(head)" in result.stdout
