"""Request ids, security headers, CORS and proxy handling."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from server.middleware.security_headers import API_HEADERS, HSTS

from support.auth import AuthenticatedClient


def test_request_id_is_echoed_or_generated(client: AuthenticatedClient) -> None:
    given = client.get("/health/live", headers={"X-Request-ID": "abc-123.x:y"})
    assert given.headers["X-Request-ID"] == "abc-123.x:y"
    generated = client.get("/health/live").headers["X-Request-ID"]
    assert len(generated) == 32
    assert generated != client.get("/health/live").headers["X-Request-ID"]


@pytest.mark.parametrize(
    "hostile",
    ["a\nfake log line", "x" * 129, "id with spaces", '"quoted"', "a\rb", "ünïcode"],
)
def test_hostile_request_ids_are_replaced(client: AuthenticatedClient, hostile: str) -> None:
    # Through the WSGI environ: the test client itself refuses newlines in headers.
    environ = {"HTTP_X_REQUEST_ID": hostile.encode("utf-8").decode("latin-1")}
    response = client.get("/health/live", environ_base=environ)
    assert response.headers["X-Request-ID"] != hostile
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    "path", ["/health/live", "/api/v1/projects", "/nope", "/api/v1/projects/0"]
)
def test_security_headers_on_every_response(client: AuthenticatedClient, path: str) -> None:
    response = client.get(path)
    for name, value in API_HEADERS.items():
        assert response.headers[name] == value
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_when_enabled(make_app: Callable[..., Flask]) -> None:
    app = make_app(hsts=True)
    assert app.test_client().get("/health/live").headers["Strict-Transport-Security"] == HSTS


@pytest.fixture
def cors_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(cors_origins="https://app.example")


def test_cors_allows_listed_origin_only(cors_app: Flask) -> None:
    client = cors_app.test_client()
    allowed = client.get("/api/v1/projects", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "ETag" in allowed.headers["Access-Control-Expose-Headers"]
    denied = client.get("/api/v1/projects", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    preflight = client.options(
        "/api/v1/projects",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, If-Match",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    ("cors", "admitted", "refused"),
    [
        (
            {"cors_origins": "https://app.example.com"},
            "https://app.example.com",
            ["https://app.example.com.attacker.net", "https://appXexample.com"],
        ),
        (
            {"cors_origins": r"https://[a-z]+\.example\.com", "cors_origin_patterns": True},
            "https://app.example.com",
            ["https://app.example.com.attacker.net", "https://example.com"],
        ),
    ],
)
def test_cors_origins_are_exact_or_anchored(
    make_app: Callable[..., Flask], cors: dict[str, object], admitted: str, refused: list[str]
) -> None:
    """A regex character in an origin must not make it an open-ended pattern (with
    credentials, https://app.example.com.attacker.net would act as the user)."""
    client = make_app(cors_allow_credentials=True, **cors).test_client()
    ok = client.get("/api/v1/projects", headers={"Origin": admitted})
    assert ok.headers["Access-Control-Allow-Origin"] == admitted
    for origin in refused:
        answer = client.get("/api/v1/projects", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in answer.headers, origin


def test_no_cors_by_default(client: AuthenticatedClient) -> None:
    response = client.get("/api/v1/projects", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def _seen_address(app: Flask) -> str:
    @app.get("/whoami")
    def whoami() -> str:
        from flask import request

        return request.remote_addr or ""

    response = app.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    return response.get_data(as_text=True)


def test_forwarded_for_ignored_without_trusted_proxies(make_app: Callable[..., Flask]) -> None:
    assert _seen_address(make_app()) == "10.0.0.1"


def test_forwarded_for_trusted_for_one_hop(make_app: Callable[..., Flask]) -> None:
    app = make_app(proxy_fix_x_for=1)
    assert _seen_address(app) == "198.51.100.7"


@pytest.mark.parametrize("proto", ["https", "HTTPS", "Https"])
def test_a_forwarded_scheme_counts_in_any_case(make_app: Callable[..., Flask], proto: str) -> None:
    """A scheme is case-insensitive (RFC 3986 section 3.1): a trusted proxy's ``HTTPS`` is a
    secure request, as its ``https`` is."""
    app = make_app(proxy_fix_x_proto=1)

    @app.get("/scheme")
    def scheme() -> dict[str, object]:
        from flask import request

        return {"scheme": request.scheme, "secure": request.is_secure}

    response = app.test_client().get("/scheme", headers={"X-Forwarded-Proto": proto})
    assert response.json == {"scheme": "https", "secure": True}
