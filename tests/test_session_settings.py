"""What a server, role or database may set for a session does not change the API's answers:
instants come out in UTC whatever the session's TimeZone (server/models/base.py, Instant: a
server's configured zone, Debian's clusters take the host's, a role's or database's, or
the client's PGTZ decides how PostgreSQL returns a timestamptz), and in any DateStyle
(psycopg2 reads dates in ISO only, and sets it at connect when the server reports another)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from flask import Flask
from sqlalchemy import Connection

from server.infra.database import db

from support.apps import build_app
from support.auth import AuthenticatedClient, client_of, make_principal, make_token
from support.servers import Postgres
from support.settings import make_settings

INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def instants(document: Any) -> list[str]:
    """Every value of a key ending in `_at`, anywhere in ``document``."""
    if isinstance(document, list):
        return [value for item in document for value in instants(item)]
    if not isinstance(document, dict):
        return []
    found = [v for k, v in document.items() if k.endswith("_at") and isinstance(v, str)]
    return found + [value for v in document.values() for value in instants(v)]


def test_instants_come_out_in_utc_whatever_the_session_zone(
    app: Flask, client: AuthenticatedClient
) -> None:
    with app.app_context():
        # On this test's connection, for its transaction (rolled back after it).
        connection = cast(Connection, db.engines[None])  # conftest.py's _isolated
        connection.exec_driver_sql("SET TIME ZONE 'Asia/Tokyo'")
        now = connection.exec_driver_sql("SELECT now()").scalar_one()
        assert now.utcoffset() == timedelta(hours=9)
    project = client.post("/api/v1/projects", json={"name": "zones"}).json
    task = client.post(
        "/api/v1/tasks",
        json={"project_id": project["id"], "title": "t", "due_at": "2030-01-02T03:04:05Z"},
    ).json
    assert task["due_at"] == "2030-01-02T03:04:05Z"
    client.post("/api/v1/tags", json={"name": "zones"})
    documents = [
        project,
        task,
        client.get(f"/api/v1/projects/{project['id']}").json,
        client.get(f"/api/v1/tasks/{task['id']}").json,
        client.get("/api/v1/tasks").json,
        client.get("/api/v1/tags").json,
        client.get("/api/v1/tokens").json,
        client.get("/api/v1/me").json,
    ]
    found = instants(documents)
    assert len(found) >= 15, found
    assert all(INSTANT.fullmatch(value) for value in found), found


def test_any_date_style_of_the_database(
    pg: Postgres, redis_url: str, migrated_database: Callable[[str], str]
) -> None:
    name = "fns_date_style"
    url = migrated_database(name)
    pg.alter_database(name, "SET DateStyle = 'SQL, DMY'")
    app = build_app(make_settings(url, redis_url, cache_enabled=False))
    try:
        with app.app_context():
            token = make_token(make_principal("styled"))
            db.session.commit()
        auth = {"Authorization": f"Bearer {token}"}
        client = client_of(app)
        created = client.post("/api/v1/projects", json={"name": "styled"}, headers=auth)
        assert created.status_code == 201, created.text
        read = client.get(f"/api/v1/projects/{created.json['id']}", headers=auth)
        assert read.status_code == 200, read.text
        assert INSTANT.fullmatch(read.json["created_at"]), read.json
    finally:
        with app.app_context():
            db.engine.dispose()
