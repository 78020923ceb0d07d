"""The production server, ``flask-nix-stack serve``: granian (default) and gunicorn, for real."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from server.config import Settings, SettingsError, load_settings
from server.serve import granian_options, gunicorn_argv, split_bind, worker_loop

from support.cli_runner import run_cli_in_process
from support.processes import Server, app_env, authed, running_server, script
from support.servers import wait_until


def make_settings(database_url: str, redis_url: str, **overrides: object) -> Settings:
    """The server's own development profile, as ``serve`` reads it (errors as SettingsError)."""
    environ = {"APP_ENV_FILE": "/nonexistent", "APP_ENV": "development"}
    return load_settings(environ, database_url=database_url, redis_url=redis_url, **overrides)


# The logger of each server's per-request lines and of its own lines.
ACCESS = {"granian": "server.access", "gunicorn": "gunicorn.access"}
OWN = {"granian": "_granian", "gunicorn": "gunicorn.error"}
GOOD_KEY = "Vb3kq7Ryx1-Wc_ZtN0aPj2HsLd8uFe5Mg9QoXi4TnKr6YwUh"  # random, as production wants


@pytest.fixture(scope="module")
def env(migrated_database: Callable[[str], str], redis_url: str) -> dict[str, str]:
    return app_env(
        migrated_database("fns_serve"),
        redis_url,
        APP_LOG_FORMAT="json",
        APP_LOG_LEVEL="INFO",
        APP_KEY_PREFIX="serve-test",
    )


@pytest.fixture(params=["granian", "gunicorn"])
def server(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[Server]:
    with running_server(env, APP_SERVER=request.param) as running:
        yield running


@pytest.fixture(params=["granian", "gunicorn"])
def one_worker_server(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[Server]:
    """For a test of what the app does with a request, the same in every worker: one is
    enough (the tests of starting and stopping keep the default two)."""
    with running_server(env, workers=1, APP_SERVER=request.param) as running:
        yield running


def test_serves_the_api_and_stops_cleanly(server: Server) -> None:
    base, process = server.base, server.process
    assert authed.get(f"{base}/health/ready", timeout=5).json()["status"] == "ok"
    created = authed.post(
        f"{base}/api/v1/projects", json={"name": f"serve-{time.time()}"}, timeout=5
    )
    assert created.status_code == 201
    assert (
        authed.get(base + created.headers["Location"], timeout=5).json()["id"]
        == created.json()["id"]
    )
    response = authed.get(
        f"{base}/health/live?probe=1", headers={"X-Request-ID": "serve-req-1"}, timeout=5
    )
    assert response.headers["X-Request-ID"] == "serve-req-1"
    # Encoded paths reach the app decoded once, as under any WSGI server.
    assert authed.get(f"{base}/health/%6Cive", timeout=5).status_code == 200

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == ACCESS[server.kind]]
    mine = [line for line in access if line["request_id"] == "serve-req-1"]
    assert mine, access
    assert "GET /health/live?probe=1" in mine[0]["message"]
    assert " 200 " in mine[0]["message"]
    assert any(line["logger"].startswith(OWN[server.kind]) for line in lines)
    # The access line of an authenticated request names its principal's id, never the token.
    me = [line for line in access if "/api/v1/projects" in line["message"]]
    assert me, access
    assert all(line["principal"] not in {"-", ""} for line in me), me
    token = server.env["APP_BOOTSTRAP_ADMIN_TOKEN"]
    assert token.split("_", 2)[2] not in server.log()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix socket, as the NixOS module's nginx reaches the server."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.path))


def unix_get(path: Path, target: str) -> int:
    connection = UnixHTTPConnection(path)
    try:
        connection.request("GET", target)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.slow
def test_granian_on_a_unix_socket_stops_without_killing_workers(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The module's setup (APP_BIND=unix:..., granian): SIGTERM ends every worker by itself.

    With asyncio's event loop, granian 2.5's workers hung on it until the kill timeout
    (server/serve.py, worker_loop): systemctl stop waited that long, then killed them."""
    sock = tmp_path / "web.sock"
    log = tmp_path / "server.log"
    unit_env = {**env, "APP_BIND": f"unix:{sock}", "APP_WORKERS": "2", "APP_GRACEFUL_TIMEOUT": "10"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [script("flask-nix-stack"), "serve"],
            env=unit_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: unix_get(sock, "/health/live") == 200, 30, "server on a unix socket")
        for _ in range(4):  # both workers have served
            assert unix_get(sock, "/health/live") == 200
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=40)  # beyond the 10 s kill timeout: the log tells
    text = log.read_text(errors="replace")
    assert status == 0, text
    # No worker held the stop until the kill timeout (10 s): the stop ended before it could.
    # (Not the absence of granian's "Killing worker-N after it refused to gracefully stop":
    # granian also logs that, and signals the pid, for a worker that has just exited, when its
    # watcher thread reaped it between the main thread's join() and is_alive(); seen in CI.)
    # What granian logs from the stop on differs between releases: its last line is the end.
    lines = [json.loads(line) for line in text.splitlines()]
    (stop,) = [n for n, line in enumerate(lines) if line["message"] == "Shutting down granian"]
    stopped_at, ended_at = (
        datetime.strptime(lines[n]["time"], "%Y-%m-%d %H:%M:%S,%f") for n in (stop, -1)
    )
    assert ended_at - stopped_at < timedelta(seconds=10), text
    assert not sock.exists()  # granian removed its socket file


def test_forwarding_headers_from_clients_are_not_trusted(one_worker_server: Server) -> None:
    """gunicorn's defaults take SCRIPT_NAME from 127.0.0.1 and unix-socket peers: not here."""
    server = one_worker_server
    for i in range(2):
        authed.post(f"{server.base}/api/v1/projects", json={"name": f"fwd-{i}-{time.time()}"})
    forged = {
        "SCRIPT_NAME": "//attacker.example",
        "X-Forwarded-Prefix": "//attacker.example",
        "X-Forwarded-Host": "attacker.example",
        "X-Forwarded-Proto": "https",
    }
    page = authed.get(f"{server.base}/api/v1/projects?limit=1", headers=forged, timeout=5).json()
    assert page["next"].startswith("/api/v1/projects?")
    honest = authed.get(f"{server.base}/api/v1/projects?limit=1", timeout=5).json()
    assert "attacker" not in json.dumps(honest)


@pytest.mark.parametrize("kind", ["granian", "gunicorn"])
def test_bad_setting_stops_startup_with_one_line(env: dict[str, str], kind: str) -> None:
    """The console script's `serve`, in a process of its own as the stack, the image and the
    module start it: its exit status and stderr as they see them."""
    result = subprocess.run(
        [script("flask-nix-stack"), "serve"],
        env={
            **env,
            "APP_SERVER": kind,
            "APP_ENV": "production",
            "APP_SECRET_KEY": GOOD_KEY,
            "APP_DEBUG": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "configuration error: APP_DEBUG: debug mode is refused in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_config_alone_refuses_a_bad_setting(env: dict[str, str]) -> None:
    """``gunicorn -c python:server.gunicorn_conf`` stays usable without ``serve``."""
    result = subprocess.run(
        [script("gunicorn"), "-c", "python:server.gunicorn_conf", "server.wsgi:app"],
        env={**env, "APP_ENV": "production", "APP_SECRET_KEY": GOOD_KEY, "APP_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "configuration error: APP_DEBUG: debug mode is refused in production" in result.stderr


def test_arguments_are_for_gunicorn_only(env: dict[str, str]) -> None:
    result = run_cli_in_process(
        "serve", "--workers", "3", env={**env, "APP_SERVER": "granian"}, check=False
    )
    assert result.returncode != 0
    assert "arguments ['--workers', '3'] are for APP_SERVER=gunicorn only" in result.stderr


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("[::1]:9000", ("::1", 9000)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("unix:/run/app/web.sock", Path("/run/app/web.sock")),
    ],
)
def test_bind_forms(bind: str, expected: object) -> None:
    assert split_bind(bind) == expected


def test_granian_options_follow_the_settings() -> None:
    settings = make_settings(
        "postgresql://u@h/d",
        "redis://h/0",
        bind="unix:/run/app/web.sock",
        workers=3,
        keepalive=0,
        graceful_timeout=7,
        workers_lifetime=3600,
        timeout=120,
        worker_connections=300,
    )
    options = granian_options(settings)
    assert options["backpressure"] == 300
    assert options["uds"] == Path("/run/app/web.sock")
    assert "address" not in options
    assert options["workers"] == 3
    assert options["http1_settings"].keep_alive is False
    assert options["http1_settings"].header_read_timeout == 60_000  # granian's maximum
    assert options["workers_kill_timeout"] == 7
    assert options["workers_lifetime"] == 3600
    assert options["respawn_failed_workers"] is True
    assert options["target"] == "server.rsgi:app"
    never = granian_options(make_settings("postgresql://u@h/d", "redis://h/0"))
    assert never["workers_lifetime"] is None
    assert never["backpressure"] == 4096  # not granian's backlog over the workers (1024 / 3)


def test_the_open_files_limit_covers_the_connections() -> None:
    """systemd starts a service with a soft limit of 1024 open files: a worker's connections,
    pools and files would reach it before APP_WORKER_CONNECTIONS. serve raises it as far as the
    hard limit allows, and says so in one line where that is too low. (A fresh interpreter: a
    lowered hard limit cannot be raised again.)"""
    script = """
import resource, sys
from server.serve import allow_connections
from support.settings import make_settings
def limit(connections):
    allow_connections(make_settings("postgresql://u@h/d", "redis://h/0",
                                    worker_connections=connections))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (512, 3000))
print(limit(100))   # 100 connections and 1024 other files
print(limit(1500))  # still under the hard limit
print(limit(4096))  # past it: the hard limit, and the warning
"""
    # Added to PYTHONPATH, not in its place: in the Nix build it holds every dependency.
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=60,
        check=True,
    )
    assert proc.stdout.split("\n")[:3] == ["(1124, 3000)", "(2524, 3000)", "(3000, 3000)"]
    assert proc.stderr.strip() == (
        "warning: APP_WORKER_CONNECTIONS=4096 needs 5120 open files, and the hard limit is "
        "3000: raise it (LimitNOFILE, ulimit -Hn)"
    )


@pytest.mark.parametrize(
    ("version", "loop"),
    [("2.5.6", "uvloop"), ("2.7.9", "uvloop"), ("2.8.0", "asyncio"), ("2.10.1", "asyncio")],
)
def test_worker_loop_avoids_asyncio_before_granian_2_8(version: str, loop: str) -> None:
    assert worker_loop(version) == loop


def test_gunicorn_argv_keeps_the_config_module() -> None:
    assert gunicorn_argv(["--workers", "4"]) == [
        "gunicorn",
        "-c",
        "python:server.gunicorn_conf",
        "--workers",
        "4",
        "server.wsgi:app",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bind", "localhost"),
        ("bind", "host:99999"),
        ("bind", "unix:relative"),
        ("workers_lifetime", 30),
    ],
)
def test_server_settings_refuse_bad_values(field: str, value: object) -> None:
    with pytest.raises(SettingsError, match=field.upper()):
        make_settings("postgresql://u@h/d", "redis://h/0", **{field: value})


def upper_bounds() -> dict[str, str]:
    """Every numeric setting at its upper bound, except the count of worker processes (a
    cost, not a value any consumer could overflow on)."""
    bounds = {}
    for name, field in Settings.model_fields.items():
        for rule in field.metadata:
            if hasattr(rule, "le") and name != "workers":
                bounds[f"APP_{name.upper()}"] = str(rule.le)
    return bounds


@pytest.mark.parametrize("kind", ["granian", "gunicorn"])
def test_every_number_at_its_upper_bound_is_taken_by_its_consumer(
    env: dict[str, str], kind: str
) -> None:
    """The bounds of the settings are values the servers, timers, PostgreSQL (statement
    timeout), Redis (TTLs) and the pools accept: it starts, is ready (a query and a Redis call
    under those settings) and stops on SIGTERM."""
    bounds = upper_bounds()
    assert {"APP_GRACEFUL_TIMEOUT", "APP_DB_STATEMENT_TIMEOUT_MS", "APP_CACHE_TTL"} <= set(bounds)
    prefix = f"bounds-{kind}-{time.time_ns()}"  # a cache of its own: the first read misses
    with running_server(env, workers=1, APP_SERVER=kind, APP_KEY_PREFIX=prefix, **bounds) as server:
        ready = authed.get(f"{server.base}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        cached = [
            authed.get(f"{server.base}/api/v1/projects", timeout=5).headers.get("X-Cache")
            for _ in range(2)
        ]
        assert cached == ["miss", "hit"]  # stored with the longest TTL, and read back
        assert server.stop() == 0
        assert "Traceback" not in server.log(), server.log()[-4000:]
