"""A corpus of hostile and broken requests: each gets the right 4xx as problem+json, and the
database is left exactly as it was."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from server.infra.database import db
from server.models import Principal, Project, Tag, Task
from server.web.openapi import build_openapi

from support.auth import AuthenticatedClient, bearer, make_principal, make_token
from support.processes import Server, app_env, authed, shared_servers

JSON = "application/json"
ServerOfKind = Callable[[str], Server]
SQL_INJECTIONS = [
    "'; DROP TABLE projects; --",
    "1 OR 1=1",
    "x' UNION SELECT password FROM pg_shadow --",
    "$$; SELECT pg_sleep(10); $$",
]

# (case id, method, path, content type, raw body, expected status)
CORPUS: list[tuple[str, str, str, str | None, bytes, int]] = [
    ("malformed", "POST", "/api/v1/projects", JSON, b'{"name": ', 400),
    ("truncated", "POST", "/api/v1/tasks", JSON, b'{"project_id": 1, "title": "t"', 400),
    ("wrong content type", "POST", "/api/v1/projects", "text/plain", b'{"name": "x"}', 415),
    ("form body", "POST", "/api/v1/tags", "application/x-www-form-urlencoded", b"name=x", 415),
    ("no content type", "POST", "/api/v1/projects", None, b'{"name": "x"}', 415),
    ("empty body", "POST", "/api/v1/projects", JSON, b"", 400),
    (
        "10 MB body",
        "POST",
        "/api/v1/projects",
        JSON,
        b'{"name": "' + b"a" * 10_000_000 + b'"}',
        413,
    ),
    (
        "deep nesting",
        "POST",
        "/api/v1/projects",
        JSON,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        400,
    ),
    ("invalid UTF-8", "POST", "/api/v1/projects", JSON, b'{"name": "\xc3\x28"}', 400),
    ("NUL escaped", "POST", "/api/v1/projects", JSON, b'{"name": "a\\u0000b"}', 422),
    (
        "UTF-16 declared latin-1",
        "POST",
        "/api/v1/projects",
        JSON + "; charset=latin-1",
        '{"name": "x"}'.encode("utf-16"),
        415,
    ),
    ("UTF-16 with BOM", "POST", "/api/v1/projects", JSON, '{"name": "x"}'.encode("utf-16"), 400),
    ("UTF-16 no BOM", "POST", "/api/v1/projects", JSON, '{"name": "x"}'.encode("utf-16-le"), 400),
    ("UTF-32", "POST", "/api/v1/projects", JSON, '{"name": "x"}'.encode("utf-32"), 400),
    ("UTF-8 BOM", "POST", "/api/v1/projects", JSON, b'\xef\xbb\xbf{"name": "x"}', 400),
    ("charset latin-1", "POST", "/api/v1/projects", JSON + "; charset=iso-8859-1", b"{}", 415),
    ("text/plain+json", "POST", "/api/v1/projects", "text/plain+json", b'{"name": "x"}', 415),
    ("text/json", "POST", "/api/v1/projects", "text/json", b'{"name": "x"}', 415),
    ("NUL raw", "POST", "/api/v1/projects", JSON, b'{"name": "a\x00b"}', 400),
    # A name that lists as blank, and one that shows as other than it is.
    ("zero-width name", "POST", "/api/v1/projects", JSON, b'{"name": "\\u200b"}', 422),
    ("invisible name", "POST", "/api/v1/projects", JSON, b'{"name": "\\u2060\\u00ad"}', 422),
    ("bidi override", "POST", "/api/v1/projects", JSON, b'{"name": "gpj.exe\\u202e"}', 422),
    (
        "huge integer",
        "POST",
        "/api/v1/tasks",
        JSON,
        b'{"project_id": 99999999999999999999, "title": "t"}',
        422,
    ),
    ("float id", "POST", "/api/v1/tasks", JSON, b'{"project_id": 1e300, "title": "t"}', 422),
    ("unknown field", "POST", "/api/v1/tags", JSON, b'{"name": "ok", "admin": true}', 422),
    (
        "very long string",
        "POST",
        "/api/v1/projects",
        JSON,
        json.dumps({"name": "x" * 5000}).encode(),
        422,
    ),
    (
        "long description",
        "POST",
        "/api/v1/projects",
        JSON,
        json.dumps({"name": "ok", "description": "d" * 20_000}).encode(),
        422,
    ),
    (
        "too many tags",
        "POST",
        "/api/v1/tasks",
        JSON,
        json.dumps({"project_id": 1, "title": "t", "tags": [f"t{i}" for i in range(50)]}).encode(),
        422,
    ),
    ("negative limit", "GET", "/api/v1/tasks?limit=-1", None, b"", 422),
    ("absurd limit", "GET", "/api/v1/tasks?limit=1000000000000", None, b"", 422),
    ("absurd offset", "GET", "/api/v1/projects?offset=99999999999999", None, b"", 422),
    ("non-numeric offset", "GET", "/api/v1/projects?offset=1;DROP", None, b"", 422),
    ("SQL in id", "GET", "/api/v1/projects/1%20OR%201=1", None, b"", 404),
    ("SQL in filter", "GET", "/api/v1/tasks?tag=x%27%20OR%20%271%27=%271", None, b"", 422),
] + [
    (f"SQL in name {i}", "POST", "/api/v1/tags", JSON, json.dumps({"name": s}).encode(), 422)
    for i, s in enumerate(SQL_INJECTIONS)
]


def counts() -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        db.session.scalar(select(func.count()).select_from(model)) for model in (Project, Task, Tag)
    )


@pytest.mark.parametrize(
    ("case", "method", "path", "content_type", "body", "status"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_corpus(
    client: AuthenticatedClient,
    case: str,
    method: str,
    path: str,
    content_type: str | None,
    body: bytes,
    status: int,
) -> None:
    client.post("/api/v1/projects", json={"name": "existing"})
    before = counts()
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.open(path, method=method, data=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "psycopg2", "sqlalchemy", "SELECT ", 'File "'):
        assert leak not in text
    assert counts() == before


@pytest.mark.parametrize(
    "content_type",
    [JSON, f"{JSON}; charset=utf-8", f"{JSON}; charset=UTF-8", "application/merge-patch+json"],
)
def test_json_in_utf8_is_accepted(client: AuthenticatedClient, content_type: str) -> None:
    body = '{"name": "Zürich ✓"}'.encode()
    response = client.post("/api/v1/projects", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.json
    assert response.json["name"] == "Zürich ✓"


def test_sql_injection_text_is_stored_as_text(client: AuthenticatedClient) -> None:
    """Where the text is allowed (a project name), it is data: stored and read back verbatim."""
    for text in SQL_INJECTIONS:
        created = client.post("/api/v1/projects", json={"name": text})
        assert created.status_code == 201
        assert client.get(created.headers["Location"]).json["name"] == text.strip()
    assert client.get("/api/v1/projects").json["total"] == len(SQL_INJECTIONS)


@pytest.mark.parametrize(
    "value", ["x\r\nSet-Cookie: a=b", "x\nX-Injected: 1", "x\r\nLocation: http://evil.example"]
)
def test_header_injection_is_not_reflected(client: AuthenticatedClient, value: str) -> None:
    response = client.get("/health/live", environ_base={"HTTP_X_REQUEST_ID": value})
    assert "Set-Cookie" not in response.headers
    assert "X-Injected" not in response.headers
    assert "evil" not in str(response.headers)


@pytest.fixture(scope="module")
def servers(migrated_database: Callable[[str], str], redis_url: str) -> Iterator[ServerOfKind]:
    """One production server of each kind on an empty database, for the module's tests.

    One worker each: the body limit is the same in every worker, and the tests send one
    request at a time."""
    url = migrated_database("fns_bad_input")
    with shared_servers(lambda _: app_env(url, redis_url), workers=1) as server:
        yield server


@pytest.mark.parametrize("server_kind", ["granian", "gunicorn"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_10_mb_body_through_the_server(
    servers: ServerOfKind, server_kind: str, chunked: bool
) -> None:
    """The body limit holds in front of the real servers too, declared or not (a chunked body
    has no Content-Length), and the answer is problem+json."""
    server = servers(server_kind)
    body = b'{"name": "' + b"a" * 10_000_000 + b'"}'
    data = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    try:
        response = authed.post(
            f"{server.base}/api/v1/projects",
            data=data,
            headers={"Content-Type": JSON},
            timeout=30,
        )
    except requests.ConnectionError:
        # A server may answer and close before the rest of a chunked body is sent.
        assert chunked
    else:
        # Without a Content-Length too: the body is read to the limit plus one byte and
        # refused whole (server/middleware/body_limit.py), never cut and parsed.
        assert response.status_code == 413, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
    assert authed.get(f"{server.base}/api/v1/projects", timeout=10).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        # A 500: psycopg2 refused the NUL with a ValueError of its own.
        b'{"name": "nul-subject", "oidc_subject": "a\\u0000b"}',
        b'{"name": "lax-admin", "is_admin": "yes"}',  # was taken as true
        b'{"name": " padded"}',  # the document's pattern refuses it; was stripped and taken
    ],
)
def test_admin_bodies_refuse_what_the_document_and_columns_refuse(
    client: AuthenticatedClient, body: bytes
) -> None:
    admin = bearer(make_token(make_principal("root", admin=True)))
    before = db.session.scalar(select(func.count()).select_from(Principal))
    response = client.post(
        "/api/v1/admin/principals", data=body, headers={**admin, "Content-Type": JSON}
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert db.session.scalar(select(func.count()).select_from(Principal)) == before


def test_an_undeclared_query_parameter_is_422_on_every_operation(
    app: Flask, client: AuthenticatedClient
) -> None:
    """Operations without parameters ignored them, while list endpoints refused unknown ones."""
    document = build_openapi(app)
    admin = bearer(make_token(make_principal("query-admin", admin=True)))
    tried = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            url = re.sub(r"\{\w+\}", "1", path)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if path.startswith("/health"):
                assert client.open(f"{url}?_=1", method=method.upper()).status_code == 200
                continue
            assert "422" in operation["responses"], (method, path)
            answer = client.open(f"{url}?bogus=1", method=method.upper(), json={}, headers=admin)
            assert answer.status_code == 422, (method, path, answer.get_data(as_text=True))
            assert answer.get_json()["errors"] == [
                {
                    "in": "query",
                    "field": "bogus",
                    "message": "Extra inputs are not permitted",
                    "type": "extra_forbidden",
                }
            ], (method, path)
            assert "bogus" not in declared
            tried += 1
    assert tried >= 25
