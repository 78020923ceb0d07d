"""Throwaway PostgreSQL, Redis and gunicorn for the benchmarks (the test suite's own helpers)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.auth.tokens import generate
from tests.support.servers import Postgres, Redis, free_port, start_postgres, start_redis

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
    flags = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *flags, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if any("Non-2xx" in line for line in errors):
        raise RuntimeError(f"wrk saw errors for {url}: {errors}")
    return float(
        next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
    )
