"""Host headers outside APP_TRUSTED_HOSTS are refused, and no path is ever redirected: every
answer is the app's own (problem+json for errors), with the security headers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from flask import Flask, Response
from werkzeug.test import EnvironBuilder, run_wsgi_app

from server.config import Settings

from support.auth import AuthenticatedClient, client_of, default_token
from support.settings import make_settings

PROBLEM = "application/problem+json"


def concrete_paths(app: Flask) -> list[str]:
    """Every rule's path, with 1 for ids and a plain name for other parameters."""
    paths = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<id:[^>]+>", "1", rule.rule)
        paths.add(re.sub(r"<[^>]+>", "x", path))
    return sorted(paths)


def variants(path: str) -> list[str]:
    """The spellings werkzeug would have redirected: doubled slashes, a trailing slash more or
    less."""
    found = {path.rstrip("/") or "/", path.rstrip("/") + "/"}
    found |= {path[:i] + "/" + path[i:] for i, char in enumerate(path) if char == "/"}
    return sorted(found)


def get_path(client: AuthenticatedClient, path: str, **headers: str):  # type: ignore[no-untyped-def]
    """GET this exact path: the test client would read "//x/y" as a URL with host x."""
    return client.get("/", environ_overrides={"PATH_INFO": path}, headers=headers)


def test_no_path_is_redirected(client: AuthenticatedClient, app: Flask) -> None:
    seen = 0
    for path in concrete_paths(app):
        for variant in variants(path):
            response = get_path(client, variant, Host="localhost", X_Forwarded_Proto="https")
            seen += 1
            assert not 300 <= response.status_code < 400, (variant, response.status_code)
            assert "Location" not in response.headers, variant
            assert response.headers["X-Content-Type-Options"] == "nosniff", variant
            if response.status_code >= 400:
                assert response.mimetype == PROBLEM, (variant, response.mimetype)
    assert seen > 40


def test_doubled_slash_is_a_404_problem(client: AuthenticatedClient) -> None:
    response = get_path(client, "/api//v1/projects")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    # Leading slashes werkzeug strips before matching: the same resource, not a redirect.
    assert get_path(client, "//api/v1/projects").status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "localhost.evil.example",
        "127.0.0.2",
        # No host at all, whatever name it starts with: werkzeug up to 3.1.3 compared
        # only the name, IDNA-encoding raw UTF-8 first, and so let these through.
        "localhost:99999",
        "localhost:65536",
        "localhost:8o",
        "a b",
        "localhost\tx",
        "localhost/x",
        "l\u00f6calhost",
        "[::1",
    ],
)
def test_untrusted_host_is_400_problem(app: Flask, host: str) -> None:
    # Called as a WSGI app, not through the test client: werkzeug 3.1.3's test client builds
    # the request's URL for its cookie jar after the answer, and fails on such a host.
    headers = [("Host", host), ("Authorization", f"Bearer {default_token()}")]
    environ = EnvironBuilder(path="/api/v1/projects", headers=headers).get_environ()
    body, status, answer_headers = run_wsgi_app(app, environ, buffered=True)
    response = Response(b"".join(body), status=status, headers=answer_headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert json.loads(response.get_data())["type"].endswith("/bad-host")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert host not in response.get_data(as_text=True)


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:54321"])
def test_default_hosts_are_the_loopback_names(client: AuthenticatedClient, host: str) -> None:
    assert client.get("/health/live", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["LocalHost", "LOCALHOST:8000", "localhost.", "Localhost.:8000"])
def test_a_host_is_trusted_in_any_case_and_with_a_trailing_dot(
    client: AuthenticatedClient, host: str
) -> None:
    """A host name is case-insensitive (RFC 3986 section 3.2.2) and a trailing dot names the
    same host: werkzeug compares the name as written, and refused these with 400."""
    answer = client.get("/health/live", headers={"Host": host})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_a_forwarded_host_is_trusted_in_any_case(make_app: Callable[..., Flask]) -> None:
    """The same for the host a trusted proxy forwards (nginx canonicalises it; others pass it
    on as the client sent it)."""
    client = client_of(make_app(trusted_hosts="api.example.com", proxy_fix_x_host=1))
    for forwarded, status in [
        ("API.Example.com", 200),
        ("api.example.com.", 200),
        ("EVIL.com", 400),
    ]:
        answer = client.get(
            "/health/live", headers={"Host": "127.0.0.1", "X-Forwarded-Host": forwarded}
        )
        assert answer.status_code == status, forwarded


def test_trusted_hosts_setting(make_app: Callable[..., Flask]) -> None:
    app = make_app(trusted_hosts="api.example.com, .example.org")
    client = client_of(app)
    for host, status in [
        ("api.example.com", 200),
        ("example.org", 200),
        ("eu.example.org", 200),
        ("localhost", 400),
        ("example.com", 400),
    ]:
        assert client.get("/health/live", headers={"Host": host}).status_code == status, host


def test_star_trusts_any_host(make_app: Callable[..., Flask]) -> None:
    client = client_of(make_app(trusted_hosts="*"))
    assert client.get("/health/live", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize(("value", "message"), [("", "at least one"), ("*,localhost", "alone")])
def test_trusted_hosts_refuses_an_empty_or_mixed_list(
    settings: Settings, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_settings(
            settings.database_url.get_secret_value(), settings.redis_url, trusted_hosts=value
        )
