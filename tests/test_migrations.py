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
from support.auth import client_of
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
    """Plain `alembic` with the top-level alembic.ini builds the app from the environment.

    Its own console script, in a process of its own: the developers' entry point, not ours, and
    Alembic's command line prints to the sys.stdout of the moment alembic was first imported."""
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


BEFORE_OWNERS = "60582b85247d"


def sql(statement: str, **values: object) -> list[tuple[object, ...]]:
    with db.engine.begin() as conn:
        result = conn.execute(sa.text(statement), values)
        return [tuple(row) for row in result] if result.returns_rows else []


def test_owners_migration_keeps_data_up_and_down(scratch_app: Flask) -> None:
    """Existing rows get an owner the migration creates; down again, names unique per owner
    become unique overall without losing a row or a tag of a task."""
    downgrade(revision="base")
    upgrade(revision=BEFORE_OWNERS)
    sql("INSERT INTO projects (id, name) VALUES (1, 'Apollo'), (2, 'Gemini')")
    sql("INSERT INTO tags (id, name) VALUES (1, 'moon'), (2, 'orbit')")
    sql("INSERT INTO tasks (id, project_id, title) VALUES (1, 1, 'land'), (2, 2, 'dock')")
    sql("INSERT INTO task_tags VALUES (1, 1), (2, 2)")

    upgrade()
    (owner,) = sql("SELECT id, name, is_admin FROM principals")
    assert owner[1:] == ("owner-of-existing-data", False)
    assert sql("SELECT DISTINCT owner_id FROM projects UNION SELECT owner_id FROM tags") == [
        (owner[0],)
    ]
    assert sql("SELECT count(*) FROM tasks") == [(2,)]

    # A second owner with the same names: allowed now, and must survive the way down.
    (other,) = sql("INSERT INTO principals (name) VALUES ('second') RETURNING id")
    sql("INSERT INTO projects (id, name, owner_id) VALUES (3, 'Apollo', :o)", o=other[0])
    sql("INSERT INTO tags (id, name, owner_id) VALUES (3, 'moon', :o)", o=other[0])
    sql("INSERT INTO tasks (id, project_id, title) VALUES (3, 3, 'again')")
    sql("INSERT INTO task_tags VALUES (3, 3)")

    downgrade(revision=BEFORE_OWNERS)
    assert "principals" not in tables()
    assert sql("SELECT id, name FROM projects ORDER BY id") == [
        (1, "Apollo"),
        (2, "Gemini"),
        (3, "Apollo #3"),
    ]
    assert sql("SELECT id, name FROM tags ORDER BY id") == [(1, "moon"), (2, "orbit")]
    # Task 3 kept its tag: it now points at the surviving "moon".
    assert sql("SELECT task_id, tag_id FROM task_tags ORDER BY task_id") == [
        (1, 1),
        (2, 2),
        (3, 1),
    ]
    upgrade()
    assert sql("SELECT count(*) FROM projects") == [(3,)]
    assert sql("SELECT name FROM principals") == [("owner-of-existing-data",)]
    sql("DELETE FROM task_tags; DELETE FROM tasks; DELETE FROM tags; DELETE FROM projects")
    sql("DELETE FROM principals")


def test_an_empty_database_gets_no_placeholder_owner(scratch_app: Flask) -> None:
    downgrade(revision="base")
    upgrade()
    assert sql("SELECT count(*) FROM principals") == [(0,)]


def test_not_ready_until_the_schema_is_at_head(scratch_app: Flask) -> None:
    """The stack boots the web server beside the migration: readiness waits for the schema."""
    client = client_of(scratch_app)
    downgrade(revision="base")
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["checks"]["database"] == "migrating"
    upgrade(revision="60582b85247d")  # one behind the newest
    assert client.get("/health/ready").json["checks"]["database"] == "migrating"
    upgrade()
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readiness_reads_the_same_heads_as_alembic() -> None:
    from alembic.script import ScriptDirectory

    from server.infra.migration_status import MIGRATIONS_DIR, head_revisions

    assert head_revisions() == frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
    assert len(head_revisions()) == 1


def index_names(table: str) -> set[str]:
    return {str(index["name"]) for index in sa.inspect(db.engine).get_indexes(table)}


def test_page_indexes_up_and_down(scratch_app: Flask) -> None:
    """The keyset pages' indexes, one revision at a time, with data in the tables."""
    downgrade(revision="base")
    upgrade(revision="3f1c2a9d7b10")
    assert "ix_task_tags_tag_id" in index_names("task_tags")
    (owner,) = sql("INSERT INTO principals (name) VALUES ('keeper') RETURNING id")
    sql("INSERT INTO projects (id, name, owner_id) VALUES (1, 'Apollo', :o)", o=owner[0])
    upgrade(revision="3c9e1f7a2b64")
    assert {"ix_tasks_project_id_id", "ix_tasks_status_id"} <= index_names("tasks")
    assert "ix_projects_owner_id_id" not in index_names("projects")
    upgrade()
    assert "ix_projects_owner_id_id" in index_names("projects")
    downgrade(revision="3c9e1f7a2b64")
    assert "ix_projects_owner_id_id" not in index_names("projects")
    downgrade(revision="3f1c2a9d7b10")
    assert "ix_task_tags_tag_id_task_id" not in index_names("task_tags")
    assert "ix_task_tags_tag_id" in index_names("task_tags")
    upgrade()
    assert sql("SELECT name FROM projects") == [("Apollo",)]
    sql("DELETE FROM projects; DELETE FROM principals")


def test_names_are_composed_once_and_duplicates_kept(scratch_app: Flask) -> None:
    """Names stored decomposed (allowed before the API composed them) are rewritten composed,
    in columns that hold what composing lengthens; a project whose composed name its owner
    already has keeps its row under "<name> #<id>". Composed, ASCII and other owners' names
    are not touched. Down again, the columns hold 200 characters and longer text is cut."""
    downgrade(revision="base")
    upgrade(revision="515f837fa1a5")
    (one,) = sql("INSERT INTO principals (name) VALUES ('one') RETURNING id")
    (two,) = sql("INSERT INTO principals (name) VALUES ('two') RETURNING id")
    decomposed, composed = "Cafe\u0301", "Caf\u00e9"
    rows = [
        (1, composed, one[0]),
        (2, decomposed, one[0]),  # a duplicate of 1 once composed
        (3, decomposed, two[0]),  # another owner's: no duplicate
        (4, "plain", one[0]),
        (5, "\u0958" * 200, one[0]),  # 400 code points composed
        (6, "e\u0327\u0301", one[0]),  # the same text as 7, marks in another order
        (7, "e\u0301\u0327", one[0]),
    ]
    for id_, name, owner in rows:
        sql("INSERT INTO projects (id, name, owner_id) VALUES (:i, :n, :o)", i=id_, n=name, o=owner)
    sql("INSERT INTO tasks (id, project_id, title) VALUES (1, 1, :t)", t=decomposed)

    upgrade()
    cedilla_acute = "\u0229\u0301"  # what both 6 and 7 compose to: ȩ and the acute
    assert sql("SELECT id, name FROM projects ORDER BY id") == [
        (1, composed),
        (2, f"{composed} #2"),
        (3, composed),
        (4, "plain"),
        (5, "\u0915\u093c" * 200),
        (6, cedilla_acute),
        (7, f"{cedilla_acute} #7"),
    ]
    assert sql("SELECT id, title FROM tasks ORDER BY id") == [(1, composed)]
    assert drift() == []

    downgrade(revision="515f837fa1a5")
    assert sql("SELECT name FROM projects WHERE id IN (2, 5) ORDER BY id") == [
        (f"{composed} #2",),
        ("\u0915\u093c" * 100,),
    ]
    upgrade()
    sql("DELETE FROM tasks; DELETE FROM projects; DELETE FROM principals")
