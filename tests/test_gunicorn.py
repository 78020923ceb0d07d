"""The production server: gunicorn with the packaged config, for real."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from support.processes import Gunicorn, app_env, authed, gunicorn_server, run_cli, script
from support.servers import Postgres

GUNICORN = script("gunicorn")
GOOD_KEY = "Vb3kq7Ryx1-Wc_ZtN0aPj2HsLd8uFe5Mg9QoXi4TnKr6YwUh"  # random, as production wants


@pytest.fixture(scope="module")
def env(pg: Postgres, redis_url: str) -> dict[str, str]:
    environment = app_env(
        pg.create_database("fns_gunicorn"),
        redis_url,
        APP_LOG_FORMAT="json",
        APP_LOG_LEVEL="INFO",
        APP_KEY_PREFIX="gunicorn-test",
    )
    run_cli("db", "upgrade", env=environment)
    return environment


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[Gunicorn]:
    with gunicorn_server(env) as running:
        yield running


def test_serves_the_api_and_stops_cleanly(server: Gunicorn) -> None:
    base, process = server.base, server.process
    assert authed.get(f"{base}/health/ready", timeout=5).json()["status"] == "ok"
    created = authed.post(
        f"{base}/api/v1/projects", json={"name": f"gunicorn-{time.time()}"}, timeout=5
    )
    assert created.status_code == 201
    assert (
        authed.get(base + created.headers["Location"], timeout=5).json()["id"]
        == created.json()["id"]
    )
    response = authed.get(
        f"{base}/health/live", headers={"X-Request-ID": "gunicorn-req-1"}, timeout=5
    )
    assert response.headers["X-Request-ID"] == "gunicorn-req-1"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert any(line["request_id"] == "gunicorn-req-1" for line in access), access
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    # The access line of an authenticated request names its principal's id, never the token.
    me = [line for line in access if "/api/v1/projects " in line["message"]]
    assert me, access
    assert all(line["principal"] not in {"-", ""} for line in me), me
    token = server.env["APP_BOOTSTRAP_ADMIN_TOKEN"]
    assert token.split("_", 2)[2] not in server.log()


def test_forwarding_headers_from_clients_are_not_trusted(server: Gunicorn) -> None:
    """gunicorn's defaults take SCRIPT_NAME from 127.0.0.1 and unix-socket peers: not here."""
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


def test_bad_setting_stops_startup_with_one_line(env: dict[str, str]) -> None:
    result = subprocess.run(
        [GUNICORN, "-c", "python:server.gunicorn_conf", "server.wsgi:app"],
        env={**env, "APP_ENV": "production", "APP_SECRET_KEY": GOOD_KEY, "APP_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "configuration error: APP_DEBUG: debug mode is refused in production" in result.stderr
    assert "Traceback" not in result.stderr
