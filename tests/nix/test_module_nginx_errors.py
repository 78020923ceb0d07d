"""What the module's nginx answers by itself is the app's problem+json, with its security headers.

The virtual host comes from the module (evaluated by nix/tests/module-eval.nix), written out as
nixpkgs' nginx module writes a location (nixos/modules/services/web-servers/nginx/default.nix:
`return`, then `extraConfig`; the host's `extraConfig` last), and served by a real nginx in
front of the real default server. Raw sockets send what nginx refuses before any upstream.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from server.errors import STATUS_SLUGS, TYPE_BASE
from server.middleware.security_headers import API_HEADERS

from support.cluster import NGINX, missing_tools
from support.processes import Server, app_env, running_server
from support.servers import free_port, nginx_conf, raw_answer, wait_until, wait_until_connects

MODULE_EVAL = Path(__file__).resolve().parents[2] / "nix" / "tests" / "module-eval.nix"
EXPR = f"(import {MODULE_EVAL} {{ lib = import <nixpkgs/lib>; }}).cases.local.nginx"
DOMAIN = "api.example.test"
HOST = f"Host: {DOMAIN}\r\n".encode()
# The app's slugs, and two statuses only the front answers.
FRONT_SLUGS = {**STATUS_SLUGS, 501: "not-implemented", 505: "http-version-not-supported"}


def location_block(path: str, location: dict[str, Any]) -> str:
    lines = [f"location {path} {{"]
    if location["proxyPass"] is not None:
        lines.append(f"proxy_pass {location['proxyPass']};")
        # Stands in for recommendedProxySettings (the module sets it): the app sees the Host.
        lines.append("proxy_set_header Host $host;")
    if location["return"] is not None:
        lines.append(f"return {location['return']};")
    lines.append(location["extraConfig"])
    return "\n".join(lines) + "\n}\n"


# Where the module's virtual host logs (nixpkgs' nginx default), moved into the test's prefix.
NIXOS_ACCESS_LOG = "/var/log/nginx/access.log"


def nginx_config(prefix: Path, port: int, upstream: str, nginx: dict[str, Any]) -> str:
    vhost = nginx["virtualHosts"][DOMAIN]
    locations = "".join(location_block(p, loc) for p, loc in vhost["locations"].items())
    extra = vhost["extraConfig"].replace(NIXOS_ACCESS_LOG, str(prefix / "access.log"))
    server = f"listen 127.0.0.1:{port};\nserver_name {DOMAIN};\n" + locations + extra
    http = (
        nginx["commonHttpConfig"]
        + f"upstream flask-nix-stack {{ server {upstream}; }}\n"
        + "server {\n"
        + textwrap.indent(server, "    ")
        + "}\n"
    )
    # The module's own events and main-context lines (connections, open files), as nixpkgs
    # renders them: nginx itself checks them here.
    return nginx_conf(prefix, http, events=nginx["eventsConfig"], main=nginx["appendConfig"])


@contextlib.contextmanager
def nginx_in_front(tmp: Path, upstream: str, nginx: dict[str, Any]) -> Iterator[int]:
    port = free_port()
    (tmp / "nginx.conf").write_text(nginx_config(tmp, port, upstream, nginx))
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", "nginx.conf", "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_connects(lambda: socket.create_connection(("127.0.0.1", port), 1), 15, "nginx")
        yield port
    finally:
        process.send_signal(signal.SIGQUIT)
        process.wait(timeout=15)


def assert_problem(answer: tuple[int, dict[str, str], bytes], status: int, slug: str) -> dict:  # type: ignore[type-arg]
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"] == "application/problem+json"
    for name, value in API_HEADERS.items():  # the app's own, the same values
        assert headers[name.lower()] == value, name
    problem = json.loads(body)
    assert problem["type"] == TYPE_BASE + slug
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    assert b"nginx" not in body
    assert b"<" not in body
    return dict(problem)


@pytest.fixture(scope="module")
def nginx(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    """The module's services.nginx: the http block's common config and the virtual host."""
    if missing := missing_tools():
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install nginx pgbouncer)")
    return dict(nix_eval(EXPR))


@pytest.fixture(scope="module")
def app_server(migrated_database: Callable[[str], str], redis_url: str) -> Iterator[Server]:
    env = app_env(
        migrated_database("fns_front_errors"),
        redis_url,
        APP_KEY_PREFIX=f"front-{uuid.uuid4().hex[:8]}",
        APP_TRUSTED_HOSTS=f"127.0.0.1,{DOMAIN}",
    )
    # One worker: what is tested is what nginx answers in front of it.
    with running_server(env, workers=1) as server:
        yield server


@pytest.fixture(scope="module")
def front_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def front(nginx: dict[str, Any], app_server: Server, front_dir: Path) -> Iterator[int]:
    with nginx_in_front(front_dir, f"127.0.0.1:{app_server.port}", nginx) as port:
        yield port


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT A REQUEST LINE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + HOST + b"Bad Header: <x>\r\n\r\n", 400),
        (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"POST /api/v1/projects HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST /api/v1/projects HTTP/1.1\r\n" + HOST + b"Content-Length: 5000000\r\n\r\n", 413),
        (b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", 505),
        (b"TRACE / HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n", 405),
        (
            b"GET /.flask-nix-stack-problem/400 HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n",
            404,
        ),
    ],
    ids=[
        "garbage",
        "bad header name",
        "request line too long",
        "header too large",
        "unknown transfer coding",
        "body over nginx's limit",
        "http version",
        "trace",
        "the error pages themselves",
    ],
)
def test_what_nginx_refuses_itself_is_problem_json(
    front: int, request_bytes: bytes, status: int
) -> None:
    slug = FRONT_SLUGS[status]
    problem = assert_problem(raw_answer(front, request_bytes), status, slug)
    assert "aaaa" not in json.dumps(problem)
    assert "<x>" not in json.dumps(problem)


def test_the_apps_own_answers_pass_untouched(front: int) -> None:
    """No interception: the app's 404 keeps its own detail and request id."""
    answer = requests.get(f"http://127.0.0.1:{front}/nope", headers={"Host": DOMAIN}, timeout=10)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "X-Request-Id" in answer.headers  # set by the app, not by nginx
    assert answer.json()["detail"].startswith("The requested URL was not found")


def test_the_access_log_never_holds_what_a_request_line_hides(front: int, front_dir: Path) -> None:
    """nginx's `combined` format logs the request line as sent: a password in an absolute-form
    target's userinfo, even on the 400 refusing it. The module's format logs the path nginx
    parsed, no query (where a client may put a credential), and a token in a path redacted."""
    marker = uuid.uuid4().hex
    secret = f"{marker}{'s' * 11}"  # a token's 43-character secret
    for request_bytes in [
        f"GET http://user:pw-{marker}@{DOMAIN}/health/live HTTP/1.1\r\n".encode() + HOST + b"\r\n",
        f"NOT A REQUEST pw-{marker}\r\n\r\n".encode(),
        f"GET /api/v1/projects/fns_abcdefgh_{secret} HTTP/1.1\r\n".encode()
        + HOST
        + b"Connection: close\r\n\r\n",
        f"GET /nowhere-{marker}?access_token=fns_abcdefgh_{secret} HTTP/1.1\r\n".encode()
        + HOST
        + b"Connection: close\r\n\r\n",
    ]:
        raw_answer(front, request_bytes)
    log = front_dir / "access.log"
    wait_until(lambda: f"/nowhere-{marker}" in log.read_text(), 10, "the access line")
    text = log.read_text()
    assert f"pw-{marker}" not in text
    assert secret not in text
    assert f'"GET /nowhere-{marker} HTTP/1.1" 404' in text
    assert '"GET [redacted] HTTP/1.1"' in text
    assert text.count('" 400 ') >= 2, text  # the refused two are logged, without their target


def test_no_upstream_is_502_problem_with_retry_after(nginx: dict[str, Any], tmp_path: Path) -> None:
    with nginx_in_front(tmp_path, f"127.0.0.1:{free_port()}", nginx) as port:
        answer = raw_answer(
            port, b"GET /health/live HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
        )
    assert_problem(answer, 502, "service-unavailable")
    assert answer[1]["retry-after"] == "1"
