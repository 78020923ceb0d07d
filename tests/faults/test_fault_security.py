"""A production-profile gunicorn run, attacked a little: secrets stay out of logs and answers,
errors leak no internals, CORS and security headers hold on every answer, and request ids
cannot forge log lines."""

from __future__ import annotations

import importlib.util
import json
import re
import secrets
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from psycopg2 import sql

from support.processes import app_env, authed, run_cli
from support.servers import Postgres

TIMEOUT = 5.0
ALLOWED_ORIGIN = "https://app.example.com"
MAX_BODY = 2048
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",  # production: APP_HSTS
}
# What a leaked traceback or query would contain.
INTERNALS = re.compile(
    r"Traceback|File \"|sqlalchemy|psycopg2|SELECT |INSERT INTO|UPDATE projects|"
    r"statement_timeout|LOCK TABLE|/site-packages/",
    re.IGNORECASE,
)
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Secrets:
    secret_key: str
    db_password: str
    dsn_key: str | None
    token: str = ""  # the bootstrap admin token: its secret part must never be printed

    def values(self) -> list[str]:
        token_secret = self.token.split("_", 2)[-1] if self.token else None
        return [v for v in (self.secret_key, self.db_password, self.dsn_key, token_secret) if v]


@dataclass
class Production:
    env: dict[str, str]
    secrets: Secrets
    database: str
    pg: Postgres
    # The first `db upgrade` of the database, with the production environment: it runs every
    # migration and stores the bootstrap admin token, which is where a secret could leak.
    upgrade: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def production(pg: Postgres, redis_url: str) -> Iterator[Production]:
    """A database owned by a role with a password, a production environment for it, and its
    schema made by `db upgrade` in that environment: once for the module's tests, which
    each start a server of their own on it and create the data they read. (The database's
    first upgrade is what test_production_run_keeps_secrets_and_internals_in checks; the
    others need only the schema, and a second upgrade would find nothing to do.)"""
    role = f"fns_secure_{uuid.uuid4().hex[:8]}"
    database = f"fns_secure_{uuid.uuid4().hex[:8]}"
    password = "pw" + secrets.token_hex(16)
    has_sentry = importlib.util.find_spec("sentry_sdk") is not None
    found = Secrets(
        secret_key=secrets.token_urlsafe(48),
        db_password=password,
        dsn_key=secrets.token_hex(16) if has_sentry else None,
    )
    owner = Postgres(host=pg.host, port=pg.port, user=role, password=password)
    env = app_env(
        owner.url(database),
        redis_url,
        APP_ENV="production",
        APP_SECRET_KEY=found.secret_key,
        APP_LOG_FORMAT="json",
        APP_LOG_LEVEL="INFO",
        APP_CORS_ORIGINS=ALLOWED_ORIGIN,
        APP_MAX_CONTENT_LENGTH=str(MAX_BODY),
        APP_DB_STATEMENT_TIMEOUT_MS="1000",
        APP_KEY_PREFIX=f"secure-{uuid.uuid4().hex[:8]}",
        # One worker: what is checked is each answer and log line, not how they are spread.
        APP_WORKERS="1",
    )
    if found.dsn_key:
        env["APP_SENTRY_DSN"] = f"http://{found.dsn_key}@127.0.0.1:9/1"
    found.token = env["APP_BOOTSTRAP_ADMIN_TOKEN"]
    admin = pg.connect()
    hba: Path | None = None
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)),
                (password,),
            )
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
        hba = require_password(pg, role)
        if hba:  # the password is really checked, not only kept secret
            with pytest.raises(psycopg2.OperationalError, match="password authentication"):
                Postgres(pg.host, pg.port, role, password="wrong").connect(database)
        yield Production(env, found, database, pg, run_cli("db", "upgrade", env=env))
    finally:
        if hba:
            hba.write_text(hba.read_text().replace(hba_line(role), ""))
            reload_config(pg)
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()


def hba_line(role: str) -> str:
    return f"host all {role} 127.0.0.1/32 scram-sha-256\n"


def reload_config(pg: Postgres) -> None:
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_reload_conf()")
    conn.close()


def require_password(pg: Postgres, role: str) -> Path | None:
    """Make our own test server check ``role``'s password (it trusts everyone else).

    The first matching pg_hba.conf line wins, so one line for this role goes first. An external
    server (PGHOST) is left alone: there the password is only a secret to keep, not checked.
    """
    if pg.workdir is None or pg.host.startswith("/"):
        return None
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SHOW hba_file")
        (hba_file,) = cur.fetchone() or ("",)
        hba = Path(hba_file)
    conn.close()
    hba.write_text(hba_line(role) + hba.read_text())
    reload_config(pg)
    return hba


def raw_request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client would send; (status, lower-cased headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def assert_secure(response: requests.Response, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (what, name, dict(response.headers))
    assert "X-Request-ID" in response.headers, what


def exercise_api(base: str, database_url: str) -> dict[str, requests.Response]:
    """Good and bad requests; every answer by name."""
    api = f"{base}/api/v1"
    seen: dict[str, requests.Response] = {}
    seen["201"] = authed.post(f"{api}/projects", json={"name": "secure"}, timeout=TIMEOUT)
    seen["200 list"] = authed.get(f"{api}/projects?name=' OR 1=1 --", timeout=TIMEOUT)
    seen["200 detail"] = authed.get(base + seen["201"].headers["Location"], timeout=TIMEOUT)
    seen["404 api"] = authed.get(f"{api}/projects/987654321", timeout=TIMEOUT)
    seen["404 page"] = authed.get(f"{base}/.env", timeout=TIMEOUT)
    seen["422 type"] = authed.post(f"{api}/projects", json={"name": 1}, timeout=TIMEOUT)
    seen["422 query"] = authed.get(f"{api}/projects?limit=1;DROP TABLE x", timeout=TIMEOUT)
    seen["422 id"] = authed.post(
        f"{api}/tasks", json={"project_id": "1 OR 1=1", "title": "x"}, timeout=TIMEOUT
    )
    seen["413"] = authed.post(
        f"{api}/projects",
        data=json.dumps({"name": "x" * MAX_BODY * 2}),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    seen["415"] = authed.post(f"{api}/projects", data="name=x", timeout=TIMEOUT)
    seen["400"] = authed.post(
        f"{api}/projects",
        data='{"name": ',
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    seen["405"] = authed.delete(f"{api}/projects", timeout=TIMEOUT)
    seen["HEAD"] = authed.head(f"{api}/projects", timeout=TIMEOUT)
    seen["OPTIONS"] = authed.options(f"{api}/projects", timeout=TIMEOUT)
    seen["503"] = statement_cancelled(f"{api}/projects?name=locked", database_url)
    return seen


def statement_cancelled(url: str, database_url: str) -> requests.Response:
    """A read that waits on a table lock past APP_DB_STATEMENT_TIMEOUT_MS: a real 503."""
    dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
    locker = psycopg2.connect(dsn)
    answer: list[requests.Response] = []
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        reader = threading.Thread(
            target=lambda: answer.append(authed.get(url, timeout=TIMEOUT * 2))
        )
        reader.start()
        reader.join(timeout=TIMEOUT * 3)
    finally:
        locker.rollback()
        locker.close()
    return answer[0]


@pytest.mark.slow
def test_production_run_keeps_secrets_and_internals_in(
    production: Production, serve: Callable[..., Any]
) -> None:
    cli = [production.upgrade, run_cli("config", "check", env=production.env)]
    server = serve(production.env)
    database_url = production.env["APP_DATABASE_URL"]
    seen = exercise_api(server.base, database_url)

    expected = {
        "201": 201,
        "200 list": 200,
        "200 detail": 200,
        "404 api": 404,
        "404 page": 404,
        "422 type": 422,
        "422 query": 422,
        "422 id": 422,
        "413": 413,
        "415": 415,
        "400": 400,
        "405": 405,
        "HEAD": 200,
        "OPTIONS": 204,  # no body, no content type (server/middleware/options.py)
        "503": 503,
    }
    assert {name: r.status_code for name, r in seen.items()} == expected
    for name, response in seen.items():
        assert_secure(response, name)
        if response.status_code >= 400:
            assert response.headers["Content-Type"] == "application/problem+json", name
            assert not INTERNALS.search(response.text), (name, response.text)
        for value in production.secrets.values():
            assert value not in response.text, name
            assert value not in str(response.headers), name
    assert "Allow" in seen["405"].headers

    assert server.stop() == 0
    log = server.log()
    outputs = {"gunicorn": log, **{f"cli {i}": c.stdout + c.stderr for i, c in enumerate(cli)}}
    for where, text in outputs.items():
        for value in production.secrets.values():
            assert value not in text, f"a secret appears in the {where} output"
    assert "database unavailable" in log  # the 503 was logged, without the secrets
    assert all(isinstance(json.loads(line), dict) for line in log.splitlines())


@pytest.mark.slow
def test_cors_answers_only_allowed_origins(
    production: Production, serve: Callable[..., Any]
) -> None:
    server = serve(production.env)
    url = f"{server.base}/api/v1/projects"
    preflight = {
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "Content-Type, If-Match",
    }

    allowed = authed.get(url, headers={"Origin": ALLOWED_ORIGIN}, timeout=TIMEOUT)
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "ETag" in allowed.headers["Access-Control-Expose-Headers"]
    # No "Vary: Origin" with a single allowed origin (Flask-Cors 6); every answer is no-store,
    # so no shared cache can hand one origin's answer to another.
    assert allowed.headers["Cache-Control"] == "no-store"
    allowed_pre = authed.options(
        url, headers={"Origin": ALLOWED_ORIGIN, **preflight}, timeout=TIMEOUT
    )
    assert allowed_pre.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "PATCH" in allowed_pre.headers["Access-Control-Allow-Methods"]
    assert_secure(allowed_pre, "allowed preflight")

    for origin in (
        "https://evil.example.com",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "null",
    ):
        for response in (
            authed.get(url, headers={"Origin": origin}, timeout=TIMEOUT),
            authed.options(url, headers={"Origin": origin, **preflight}, timeout=TIMEOUT),
        ):
            assert "Access-Control-Allow-Origin" not in response.headers, origin
            assert "Access-Control-Allow-Methods" not in response.headers, origin
            assert_secure(response, origin)


# X-Request-ID values a client library would refuse to send. Each is sent raw.
INJECTIONS = {
    "bare LF": b'abc\n{"level": "CRITICAL", "message": "forged"}',
    "obs-fold": b'abc\r\n {"message": "forged"}',
    "bare CR": b'abc\r{"message": "forged"}',
    "vertical tab": b'abc\x0b{"message": "forged"}',
    "NEL": b'abc\x85{"message": "forged"}',
    "line separator": "abc\u2028forged".encode(),
    "too long": b"a" * 129,
    "json quote": b'abc","level":"CRITICAL',
}


@pytest.mark.slow
def test_request_ids_cannot_forge_log_lines(
    production: Production, serve: Callable[..., Any]
) -> None:
    server = serve(production.env)
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}
    for name, value in INJECTIONS.items():
        answers[name] = raw_request(
            server.port,
            b"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {production.secrets.token}\r\n".encode()
            + b"X-Request-ID: "
            + value
            + b"\r\nConnection: close\r\n\r\n",
        )
    assert server.stop() == 0

    for name, (status, headers, _body) in answers.items():
        if status == 400 and "x-request-id" not in headers:
            continue  # refused by the server's parser before the app: nothing reached the log
        # 400 from the app: a value granian cannot pass on (bytes outside ASCII) is refused
        # (server/middleware/request_head.py); gunicorn passes it on, and the app replaces it.
        assert status in (200, 400), (name, status)
        assert GENERATED_ID.match(headers["x-request-id"]), (name, headers["x-request-id"])
    records = []
    for line in server.log().splitlines():
        record = json.loads(line)  # every line one JSON object, or this raises
        assert isinstance(record, dict), line
        records.append(record)
    assert not [r for r in records if "forged" in str(r) or r.get("level") == "CRITICAL"]
    # The access log names the generated ids, so a request can still be traced.
    # gunicorn writes the id into its access line; the app's own line (granian) carries it as
    # the record's request_id, as every other line of the request does.
    access = " ".join(
        f"{r['message']} {r['request_id']}"
        for r in records
        if r["logger"] in ("gunicorn.access", "server.access")
    )
    generated = [h["x-request-id"] for _, h, _ in answers.values() if "x-request-id" in h]
    assert generated
    assert all(request_id in access for request_id in generated)
