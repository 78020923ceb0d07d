"""A database that refuses writes (a primary demoted to a standby by a failover, or made
read-only for maintenance): 503 with Retry-After, and writes resume once it takes them again,
without a restart (server/infra/database.py, _read_only_is_a_lost_connection)."""

from __future__ import annotations

from collections.abc import Callable

from server.infra.database import db

from support.apps import build_app
from support.auth import make_principal, make_token
from support.servers import Postgres
from support.settings import make_settings


def test_writes_to_a_read_only_database_are_503_and_resume_after(
    pg: Postgres, redis_url: str, migrated_database: Callable[[str], str]
) -> None:
    name = "fns_read_only"
    url = migrated_database(name)

    app = build_app(make_settings(url, redis_url, cache_enabled=False))
    with app.app_context():
        token = make_token(make_principal("writer"))
        db.session.commit()
        pg.alter_database(name, "SET default_transaction_read_only = on")
        db.engine.dispose()  # the setting reaches new sessions only
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(3):  # each time, on whichever pooled connection
            refused = client.post("/api/v1/projects", json={"name": "p"}, headers=auth)
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1"
            assert refused.content_type == "application/problem+json"
        assert client.get("/api/v1/projects", headers=auth).status_code == 200
        pg.alter_database(name, "RESET ALL")
        # A connection opened while the server was read-only stays so: the first write on
        # it may be refused once more (and drops it); none is a 500, and writes resume.
        statuses = [
            client.post("/api/v1/projects", json={"name": f"p{n}"}, headers=auth).status_code
            for n in range(3)
        ]
        assert set(statuses) <= {201, 503}, statuses
        assert statuses[-2:] == [201, 201], statuses
    finally:
        with app.app_context():
            db.engine.dispose()
