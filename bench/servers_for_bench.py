"""Throwaway PostgreSQL, Redis and servers for the benchmarks (the test suite's own helpers).

The server candidates (``CANDIDATES``) all serve the same app with the same settings
(APP_WORKERS, APP_THREADS), each the way its users would run it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from server.auth.tokens import generate

from support.servers import (
    Postgres,
    Redis,
    free_port,
    nginx_conf,
    start_postgres,
    start_redis,
)

ROOT = Path(__file__).resolve().parent.parent
# The benchmark servers' admin token: `db upgrade` stores it (APP_BOOTSTRAP_ADMIN_TOKEN).
TOKEN = generate()[0]
AUTH = {"Authorization": f"Bearer {TOKEN}"}

BIN = Path(sys.executable).parent


@contextmanager
def backends() -> Iterator[tuple[Postgres, Redis]]:
    pg = start_postgres()
    redis = start_redis()
    try:
        yield pg, redis
    finally:
        redis.stop()
        pg.stop()


def app_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(
        {
            "APP_ENV": "production",
            "APP_ENV_FILE": "/nonexistent",
            "APP_SECRET_KEY": secrets.token_urlsafe(48),
            "APP_BOOTSTRAP_ADMIN_TOKEN": TOKEN,
            "APP_DATABASE_URL": database_url,
            "APP_REDIS_URL": redis_url,
            # Limits are counted (a Redis call per request) but never reached.
            "APP_RATELIMIT_DEFAULT": "100000000 per minute",
            "APP_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


def migrated_env(pg: Postgres, redis_url: str, database: str, **extra: str) -> dict[str, str]:
    """``app_env`` on a new database ``database``, migrated by `flask-nix-stack db upgrade` as
    an operator's host is."""
    env = app_env(pg.create_database(database), redis_url, **extra)
    subprocess.run(
        [str(BIN / "flask-nix-stack"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    return env


def post_project(base: str, name: str) -> int:
    """Create a project through the API (as the bench's token) and return its id."""
    request = urllib.request.Request(
        f"{base}/api/v1/projects",
        data=json.dumps({"name": name, "description": "x" * 200}).encode(),
        headers={"Content-Type": "application/json", **AUTH},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return int(json.load(response)["id"])


def wait_http(url: str, timeout: float = 30.0) -> float:
    """Seconds until ``url`` answers 200."""
    start = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > timeout:
            raise TimeoutError(url)
        time.sleep(0.01)


@contextmanager
def gunicorn(app: str, env: dict[str, str], *flags: str) -> Iterator[tuple[str, float]]:
    """gunicorn with the server's config module; yields (base URL, seconds to first 200)."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:server.gunicorn_conf", *flags, app],
        env={**env, "APP_BIND": f"127.0.0.1:{port}"},
        cwd=ROOT / "bench",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        probe = "/" if app.startswith("hello_app") else "/health/live"
        yield base, wait_http(base + probe)
    finally:
        process.terminate()
        process.wait(timeout=60)


def wrk(
    url: str,
    seconds: int,
    connections: int,
    threads: int = 2,
    headers: dict[str, str] | None = None,
) -> float:
    """Requests per second that wrk measured (it must be on PATH: apt-get install wrk)."""
    return wrk_run(url, seconds, connections, threads, headers=headers).rps


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors (connect, read, write, timeout)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_run(
    url: str,
    seconds: float,
    connections: int,
    threads: int = 2,
    keepalive: bool = True,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """One wrk run: requests/s, latency p50/p99 and errors. Without ``keepalive`` every request
    asks the server to close (a new connection each, as behind a non-pooling proxy)."""
    sent = {**(headers or {}), **({} if keepalive else {"Connection": "close"})}
    flags = [arg for name, value in sent.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", *flags, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    # wrk's "Latency Distribution" block: "     50%  512.00us", "     99%    2.10ms".
    percentiles = {
        line.split()[0]: _ms(line.split()[1]) for line in lines if re.match(r"\s+(50|99)%", line)
    }
    errors = 0
    for line in lines:
        if "Non-2xx" in line:
            errors += int(line.split()[-1])
        if "Socket errors" in line:
            errors += sum(int(n) for n in re.findall(r"\b(\d+)\b", line))
    rps = float(next(line.split()[1] for line in lines if line.startswith("Requests/sec")))
    return WrkResult(rps, percentiles["50%"], percentiles["99%"], errors)


@contextmanager
def started(
    argv: list[str], env: dict[str, str], port: int, probe: str = "/health/live", cwd: Path = ROOT
) -> Iterator[str]:
    """Run ``argv`` until the block ends; yields its base URL once ``probe`` answers 200."""
    log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(base + probe, timeout=60)
        except TimeoutError:
            process.kill()
            raise RuntimeError(f"{argv} did not start; log: {log.name}") from None
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# The front a buffering proxy puts before a server (the NixOS module's nginx does the same, with
# recommendedProxySettings): the http block of tests/support/servers.py's nginx_conf.
NGINX_HTTP = """
upstream app {{ server 127.0.0.1:{upstream}; keepalive 16; }}
server {{
  listen 127.0.0.1:{port};
  client_max_body_size 2m;
  location / {{
    proxy_pass http://app;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
  }}
}}
"""


@contextmanager
def nginx_in_front(upstream: int, port: int) -> Iterator[None]:
    """Debian's nginx on ``port``, buffering requests for a server on ``upstream`` (the NixOS
    module's nginx does the same, with recommendedProxySettings)."""
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        conf = Path(prefix) / "nginx.conf"
        http = NGINX_HTTP.format(upstream=upstream, port=port)
        conf.write_text(nginx_conf(prefix, http, events="worker_connections 4096;"))
        process = subprocess.Popen(
            ["nginx", "-p", prefix, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)


def serve_argv() -> list[str]:
    return [str(BIN / "flask-nix-stack"), "serve"]


@dataclass
class Candidate:
    """A way to run the server: its command and settings, for a port."""

    name: str
    command: Callable[[int], list[str]]
    settings: dict[str, str]
    behind_nginx: bool = False

    @contextmanager
    def run(self, env: dict[str, str]) -> Iterator[str]:
        port = free_port()
        app_port = free_port() if self.behind_nginx else port
        full_env = {**env, **self.settings, "APP_BIND": f"127.0.0.1:{app_port}"}
        with ExitStack() as stack:
            stack.enter_context(started(self.command(app_port), full_env, app_port))
            if self.behind_nginx:
                stack.enter_context(nginx_in_front(app_port, port))
                wait_http(f"http://127.0.0.1:{port}/health/live")
            yield f"http://127.0.0.1:{port}"


def _uvicorn(port: int) -> list[str]:
    # uvicorn's own choice for WSGI apps: a2wsgi (its built-in WSGI interface is deprecated).
    return [
        str(BIN / "uvicorn"),
        "--workers",
        "2",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--lifespan",
        "off",
        "--port",
        str(port),
        "bench.uvicorn_wsgi:app",
    ]


def _granian_wsgi(port: int) -> list[str]:
    return [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--workers",
        "2",
        "--blocking-threads",
        "1",
        "--http",
        "1",
        "--no-ws",
        "--port",
        str(port),
        "server.wsgi:app",
    ]


GUNICORN = {"APP_SERVER": "gunicorn"}
CANDIDATES = [
    Candidate("granian (default)", lambda _port: serve_argv(), {}),
    Candidate("granian wsgi", _granian_wsgi, {}),
    Candidate("gunicorn sync", lambda _port: serve_argv(), GUNICORN),
    Candidate(
        "gunicorn gthread",
        lambda _port: serve_argv(),
        {**GUNICORN, "APP_WORKER_CLASS": "gthread", "APP_THREADS": "4"},
    ),
    Candidate(
        "gunicorn gevent",
        lambda _port: [*serve_argv(), "--worker-class", "gevent", "--worker-connections", "1000"],
        GUNICORN,
    ),
    Candidate("uvicorn a2wsgi", _uvicorn, {}),
    Candidate("nginx+gunicorn sync", lambda _port: serve_argv(), GUNICORN, behind_nginx=True),
]
