"""Every error is application/problem+json with type, title, status and detail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import PendingRollbackError

from server.config import Settings
from server.errors import TYPE_BASE

from support.apps import build_app
from support.auth import ApiResponse, AuthenticatedClient, client_of

PROBLEM = "application/problem+json"


def assert_problem(response: ApiResponse, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.json
    assert body["type"] == TYPE_BASE + slug
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def post_raw(
    client: AuthenticatedClient, data: bytes | str, content_type: str = "application/json"
) -> ApiResponse:
    return client.post("/api/v1/projects", data=data, content_type=content_type)


def test_unknown_route_is_404(client: AuthenticatedClient) -> None:
    assert_problem(client.get("/nope"), 404, "not-found")


def test_wrong_method_is_405_with_allow(client: AuthenticatedClient) -> None:
    response = client.delete("/api/v1/projects")
    assert_problem(response, 405, "method-not-allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"name": "x"}', "text/plain"),
        ('{"name": "x"}', "application/x-www-form-urlencoded"),
        ("", ""),
    ],
)
def test_non_json_is_415(client: AuthenticatedClient, data: str, content_type: str) -> None:
    assert_problem(post_raw(client, data, content_type), 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b'{"name": "x"',
        b"{'name': 'x'}",
        b'{"name": "\xff\xfe"}',  # invalid UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # nesting beyond any parser's recursion limit
        b'{"name": "x", "description": ' + b"9" * 5000 + b"}",  # over int's digit limit
        b"NaN",
        # A repeated key: Python's parser keeps the last, others (a proxy's, a WAF's) the first.
        b'{"name": "checked", "name": "stored"}',
    ],
)
def test_malformed_json_is_400(client: AuthenticatedClient, data: bytes) -> None:
    assert_problem(post_raw(client, data), 400, "malformed-json")
    assert client.get("/api/v1/projects").json["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"name": "ok", "descripton": "typo"}, "descripton"),
        ({}, "name"),
        ([{"name": "x"}], None),
        ("just a string", None),
    ],
)
def test_invalid_body_is_422_with_field_errors(
    client: AuthenticatedClient, body: object, field: str | None
) -> None:
    response = post_raw(client, json.dumps(body))
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"], problem
    assert problem["errors"][0]["in"] == "body"
    if field:
        assert problem["errors"][0]["field"] == field
    assert client.get("/api/v1/projects").json["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"project_id": "1", "title": "t"},
        {"project_id": 1.5, "title": "t"},  # 1.0 is the integer 1 to JSON Schema, and taken
        {"project_id": True, "title": "t"},
        {"project_id": 2**31, "title": "t"},
        {"project_id": -1, "title": "t"},
        {"project_id": 10**30, "title": "t"},
        {"project_id": 1, "title": "t", "tags": "a"},
        {"project_id": 1, "title": "t", "tags": ["ok"] * 21},
    ],
)
def test_wrong_types_for_task_are_422(client: AuthenticatedClient, body: dict[str, Any]) -> None:
    assert_problem(client.post("/api/v1/tasks", json=body), 422, "validation-error")


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-5",
        "limit=abc",
        "offset=-1",
        "offset=99999999999999999999",
        "limit=1.5",
        "unknown=1",
        "limit=1&limit=2",
    ],
)
def test_bad_pagination_is_422(client: AuthenticatedClient, query: str) -> None:
    problem = assert_problem(client.get(f"/api/v1/projects?{query}"), 422, "validation-error")
    assert problem["errors"][0]["in"] == "query"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/0",
        "/api/v1/projects/01",
        "/api/v1/projects/2147483648",
        "/api/v1/projects/9999999999",
        "/api/v1/projects/25869306257948",
        "/api/v1/tasks/-1",
        "/api/v1/tags/abc",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_out_of_range_ids_are_404(client: AuthenticatedClient, path: str, method: str) -> None:
    # 404 whatever the method: werkzeug would say 405 if a converter rejected the value.
    assert_problem(client.open(path, method=method, json={}), 404, "not-found")


def test_id_pattern_is_exactly_1_to_int4_max() -> None:
    import re

    from server.api.converters import INT4_ID

    pattern = re.compile(INT4_ID)
    for value in [*range(1, 1000), 2**31 - 1, 2**31 - 2, 10**9, 1999999999, 2147483639]:
        assert pattern.fullmatch(str(value)), value
    for value in [0, 2**31, 2**31 + 1, 2147483650, 2147484000, 3 * 10**9, 10**10]:
        assert not pattern.fullmatch(str(value)), value
    import random

    rng = random.Random(7)
    for value in (rng.randrange(1, 2**34) for _ in range(20_000)):
        assert bool(pattern.fullmatch(str(value))) == (value < 2**31), value


def test_oversize_body_is_413(client: AuthenticatedClient, settings: Settings) -> None:
    data = json.dumps({"name": "x", "description": "y" * settings.max_content_length})
    assert_problem(post_raw(client, data), 413, "payload-too-large")
    assert client.get("/api/v1/projects").json["total"] == 0


@pytest.fixture
def failing_app(settings: Settings) -> Flask:
    app = build_app(settings)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals: password=hunter2")

    return app


def test_unexpected_error_is_500_without_internals(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    response = client_of(failing_app).get("/boom")
    body = assert_problem(response, 500, "internal-error")
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "Traceback" not in text
    assert body["detail"] == "The server failed to handle the request."
    assert "RuntimeError" in caplog.text  # logged for us, not shown to the client


@pytest.fixture
def pending_rollback_app(settings: Settings) -> Flask:
    app = build_app(settings)

    @app.get("/lost")
    def lost() -> str:
        # What SQLAlchemy raises when a session whose connection was lost is used again.
        raise PendingRollbackError(
            "Can't reconnect until invalid transaction is rolled back.", code="8s2b"
        )

    @app.get("/misused")
    def misused() -> str:
        # A session used again after a failed flush: a bug, not an outage.
        raise PendingRollbackError("This Session's transaction has been rolled back", code="7s2a")

    return app


def test_pending_rollback_after_a_lost_connection_is_503(pending_rollback_app: Flask) -> None:
    client = client_of(pending_rollback_app)
    response = client.get("/lost")
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["Retry-After"] == "1"
    assert_problem(client.get("/misused"), 500, "internal-error")
