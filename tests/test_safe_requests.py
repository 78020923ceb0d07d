"""Safe requests: their reads reach PostgreSQL as the statements alone, and they cannot write.

The apps here run on databases of their own (not in a test's transaction), as a server does,
so what they send is what production sends; tests/support/wire.py records it on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    delete,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateTable

from server.infra import safe_requests
from server.infra.database import db
from server.models import Project

from support.apps import build_app
from support.auth import bearer, client_of, make_principal, make_token
from support.servers import Postgres
from support.settings import make_settings
from support.wire import WireRecorder, wire_recorder


@dataclass
class OwnApp:
    app: Flask
    headers: dict[str, str]
    database: str
    owner_id: int

    def project(self, name: str) -> int:
        client = client_of(self.app)
        created = client.post("/api/v1/projects", json={"name": name}, headers=self.headers)
        assert created.status_code == 201, created.json
        return int(created.json["id"])


@pytest.fixture
def wire(pg: Postgres) -> Iterator[WireRecorder]:
    with wire_recorder(pg.host, pg.port) as recorder:
        yield recorder


@pytest.fixture
def own_app(
    request: pytest.FixtureRequest,
    pg: Postgres,
    migrated_database: Callable[[str], str],
    redis_url: str,
    wire: WireRecorder,
) -> Callable[..., OwnApp]:
    """``own_app(**settings)``: an app on a new migrated database, through ``wire``, with a
    principal and its token. Routes may be added to it before its first request."""

    def build(**overrides: object) -> OwnApp:
        name = f"fns_safe_{len(pg.created)}"
        url = migrated_database(name)
        app = build_app(make_settings(wire.url(url), redis_url, **overrides))
        with app.app_context():
            owner = make_principal("reader")
            token = make_token(owner)
            owner_id = owner.id
            request.addfinalizer(db.engine.dispose)
        # (Under Nix's test hook the URL names a socket directory: its query holds slashes.)
        return OwnApp(app, bearer(token), str(make_url(url).database), owner_id)

    return build


# No cached answers: every GET reads PostgreSQL. No pool pings: one is sent after 10 s of
# idleness (server/infra/pool_checks.py), which a loaded machine may reach between requests.
UNCACHED = {"cache_enabled": False, "db_pool_pre_ping": False}


def test_a_get_sends_its_select_alone(own_app: Callable[..., OwnApp], wire: WireRecorder) -> None:
    """Was BEGIN, the SELECT, ROLLBACK: three round trips for one statement."""
    own = own_app(**UNCACHED)
    project = own.project("alpha")
    client = client_of(own.app)
    assert client.get(f"/api/v1/projects/{project}", headers=own.headers).status_code == 200
    wire.take()  # the token is cached now: what follows is the read alone

    for method in ("GET", "HEAD"):
        response = client.open(f"/api/v1/projects/{project}", method=method, headers=own.headers)
        assert response.status_code == 200
        sent = wire.take()
        assert len(sent) == 1, sent
        assert sent[0].startswith("SELECT projects.id"), sent


def test_a_list_sends_its_selects_without_a_transaction(
    own_app: Callable[..., OwnApp], wire: WireRecorder
) -> None:
    own = own_app(**UNCACHED)
    own.project("alpha")
    client = client_of(own.app)
    client.get("/api/v1/projects", headers=own.headers)
    wire.take()
    page = client.get("/api/v1/projects", headers=own.headers)
    assert page.status_code == 200
    assert page.json["total"] == 1
    sent = wire.take()
    assert sent, "the list was not read from PostgreSQL"
    assert all(query.startswith("SELECT") for query in sent), sent


def test_writes_keep_their_transactions_and_switching_sends_nothing(
    own_app: Callable[..., OwnApp], wire: WireRecorder
) -> None:
    """Writes run in a transaction as before; the same pooled connection (a pool of one)
    goes from autocommit to a transaction and back with no statement of its own (no SET)."""
    own = own_app(**UNCACHED, db_pool_size=1, db_max_overflow=0)
    project = own.project("alpha")
    client = client_of(own.app)
    url = f"/api/v1/projects/{project}"
    client.get(url, headers=own.headers)
    wire.take()
    for n in range(3):
        changed = client.patch(url, json={"description": f"v{n}"}, headers=own.headers)
        assert changed.status_code == 200
        sent = wire.take()
        assert sent[0] == "BEGIN", sent
        assert sent[1].startswith("SELECT"), sent
        assert sent[2].startswith("UPDATE projects"), sent
        assert sent[3] == "COMMIT", sent
        assert client.get(url, headers=own.headers).json["description"] == f"v{n}"
        sent = wire.take()
        assert len(sent) == 1, sent
        assert sent[0].startswith("SELECT"), sent


def test_readiness_keeps_its_transaction_and_timeout(
    own_app: Callable[..., OwnApp], wire: WireRecorder
) -> None:
    own = own_app(**UNCACHED)
    client = client_of(own.app)
    client.get("/health/ready")
    wire.take()
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.json
    sent = wire.take()
    assert sent[0] == "BEGIN", sent
    assert sent[1] == "SELECT set_config('statement_timeout', '500', true) AS set_config_1"
    assert sent[-1] == "ROLLBACK", sent


def test_a_tokens_first_use_is_recorded_by_a_get(
    own_app: Callable[..., OwnApp], pg: Postgres, wire: WireRecorder
) -> None:
    """The one write a GET makes on purpose: a single UPDATE, in autocommit, and kept."""
    own = own_app(**UNCACHED)
    wire.take()
    assert client_of(own.app).get("/api/v1/projects", headers=own.headers).status_code == 200
    sent = wire.take()
    assert not {"BEGIN", "COMMIT", "ROLLBACK"} & set(sent), sent
    assert sum(query.startswith("UPDATE api_tokens SET last_used_at") for query in sent) == 1
    conn = pg.connect(own.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM api_tokens WHERE last_used_at IS NOT NULL")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


# Writes a server could attempt while answering a GET, by each way SQLAlchemy offers.
PROBE_TABLE = Table("probe_created", MetaData(), Column("id", Integer, primary_key=True))


def _write(kind: str, owner_id: int) -> None:
    if kind == "orm flush":
        db.session.add(Project(name="written", owner_id=owner_id))
        db.session.flush()
    elif kind == "orm autoflush":
        db.session.add(Project(name="written", owner_id=owner_id))
        db.session.scalar(select(func.count()).select_from(Project))
    elif kind == "core update":
        db.session.execute(update(Project).values(name="written"))
    elif kind == "connection delete":
        db.session.connection().execute(delete(Project))
    elif kind == "textual update":
        db.session.execute(text("/* x */ UPDATE projects SET name = 'written'"))
    elif kind == "textual cte":
        db.session.execute(text("WITH d AS (DELETE FROM projects RETURNING 1) SELECT 1"))
    elif kind == "ddl":
        db.session.connection().execute(CreateTable(PROBE_TABLE))
    else:
        raise AssertionError(kind)
    db.session.commit()


WRITES = (
    "orm flush",
    "orm autoflush",
    "core update",
    "connection delete",
    "textual update",
    "textual cte",
    "ddl",
)


def _stored(pg: Postgres, database: str) -> tuple[list[str], bool]:
    conn = pg.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name FROM projects ORDER BY id")
            names = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT to_regclass('probe_created') IS NOT NULL")
            row = cur.fetchone()
            assert row is not None
            return names, bool(row[0])
    finally:
        conn.close()


@pytest.mark.parametrize("kind", WRITES)
def test_a_write_in_a_get_is_refused_before_it_is_sent(
    own_app: Callable[..., OwnApp],
    pg: Postgres,
    wire: WireRecorder,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    """A programming error: 500 problem+json, logged with its traceback, nothing written.
    The same code in a POST writes (the route is not broken: the guard is what refuses)."""
    own = own_app(**UNCACHED)
    # Building the app configured logging anew, without the handler pytest had put there.
    logging.getLogger().addHandler(caplog.handler)

    @own.app.route("/probe", methods=["GET", "HEAD", "POST"])
    def probe() -> str:
        _write(kind, own.owner_id)
        return "written"

    own.project("kept")
    client = client_of(own.app)
    wire.take()
    with caplog.at_level(logging.ERROR):
        for method in ("GET", "HEAD"):
            refused = client.open("/probe", method=method, headers=own.headers)
            assert refused.status_code == 500
            assert refused.mimetype == "application/problem+json"
    sent = wire.take()
    assert all(query.startswith("SELECT") for query in sent), sent
    assert _stored(pg, own.database) == (["kept"], False)
    errors = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert len(errors) == 2
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], safe_requests.WriteInSafeRequest)
    assert "while answering GET /probe" in str(errors[0].exc_info[1])

    assert client.post("/probe", headers=own.headers).status_code == 200
    assert _stored(pg, own.database) != (["kept"], False)


def test_the_guard_also_holds_inside_a_tests_transaction(make_app: Callable[..., Flask]) -> None:
    """The suite's apps run in a test's transaction, not in autocommit: a write in a GET is
    refused there too, so the suite catches it."""
    other = make_app()

    @other.get("/probe")
    def probe() -> str:
        db.session.execute(update(Project).values(name="written"))
        return "written"

    assert client_of(other).get("/probe").status_code == 500


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SELECT 1", None),
        ("  select 1", None),
        ("/* a comment */ -- another\n (SELECT 1)", None),
        ("UPDATE projects SET name = 'x'", "textual SQL (UPDATE)"),
        ("SET statement_timeout = 0", "textual SQL (SET)"),
        ("WITH d AS (DELETE FROM projects RETURNING 1) SELECT 1", "textual SQL (WITH)"),
        ("", "textual SQL (empty)"),
    ],
)
def test_textual_sql_counts_as_reading_only_when_it_starts_with_select(
    statement: str, kind: str | None
) -> None:
    assert safe_requests._writes(statement, None) == kind


def test_use_transaction_after_a_statement_moves_to_a_transaction(
    own_app: Callable[..., OwnApp], wire: WireRecorder
) -> None:
    own = own_app(**UNCACHED)

    @own.app.get("/probe")
    def probe() -> str:
        db.session.scalar(select(1))
        safe_requests.use_transaction(db.session())
        db.session.scalar(select(literal_column("2")))
        return "ok"

    client_of(own.app).get("/probe", headers=own.headers)
    wire.take()
    assert client_of(own.app).get("/probe", headers=own.headers).status_code == 200
    assert wire.take() == ["SELECT 1", "BEGIN", "SELECT 2", "ROLLBACK"]
