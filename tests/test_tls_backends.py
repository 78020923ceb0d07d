"""TLS to a remote PostgreSQL and Redis (APP_DB_CA_FILE, APP_REDIS_CA_FILE): real servers with
certificates from a throwaway CA, and a second CA the app must refuse."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from server.infra.database import db

from support.apps import build_app
from support.cli_runner import run_cli_in_process
from support.processes import app_env
from support.servers import free_port, init_cluster, wait_until, wait_until_connects
from support.settings import make_settings

pytestmark = pytest.mark.slow


def openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> Path:
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        # What X.509 strict verification (Python 3.13's default) asks of a CA certificate.
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.crt",
        cwd=directory,
    )
    return directory / f"{name}.crt"


def make_server_cert(directory: Path, ca: str) -> tuple[Path, Path]:
    """A certificate for localhost, signed by ``ca``; key mode 0600 as PostgreSQL demands."""
    (directory / "san.cnf").write_text(
        "subjectAltName=DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n"
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=directory,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        f"{ca}.crt",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
        "-out",
        "server.crt",
        cwd=directory,
    )
    (directory / "server.key").chmod(0o600)
    return directory / "server.crt", directory / "server.key"


@dataclass
class TlsBackends:
    ca: Path
    other_ca: Path
    database_url: str
    redis_url: str


@pytest.fixture(scope="module")
def tls_backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBackends]:
    if shutil.which("openssl") is None or shutil.which("redis-server") is None:
        pytest.skip("openssl or redis-server not installed")
    directory = tmp_path_factory.mktemp("tls")
    ca = make_ca(directory, "test-ca")
    other_ca = make_ca(directory, "other-ca")
    cert, key = make_server_cert(directory, "test-ca")
    data = directory / "pg"
    bindir = init_cluster(data)
    pg_port, redis_port = free_port(), free_port()
    postgres = subprocess.Popen(
        [
            bindir / "postgres",
            "-D",
            data,
            "-p",
            str(pg_port),
            "-k",
            directory,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "ssl=on",
            "-c",
            f"ssl_cert_file={cert}",
            "-c",
            f"ssl_key_file={key}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    redis_server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--tls-port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(ca),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
    )
    backends = TlsBackends(
        ca,
        other_ca,
        f"postgresql+psycopg2://postgres@localhost:{pg_port}/postgres",
        f"rediss://localhost:{redis_port}/0",
    )
    try:
        wait_until(
            lambda: redis.Redis.from_url(backends.redis_url, ssl_ca_certs=str(ca)).ping(),
            15,
            "Redis with TLS",
        )
        import psycopg2

        wait_until_connects(
            lambda: psycopg2.connect(
                host="localhost", port=pg_port, user="postgres", sslmode="require"
            ),
            30,
            "PostgreSQL with TLS",
        )
        yield backends
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=10)
        postgres.send_signal(2)
        postgres.wait(timeout=30)


def test_verified_tls_to_both(tls_backends: TlsBackends) -> None:
    # Migrations over the same verified connections: readiness waits for the schema at head.
    ca = str(tls_backends.ca)
    env = app_env(
        tls_backends.database_url, tls_backends.redis_url, APP_DB_CA_FILE=ca, APP_REDIS_CA_FILE=ca
    )
    run_cli_in_process("db", "upgrade", env=env)
    app = build_app(
        make_settings(
            tls_backends.database_url,
            tls_backends.redis_url,
            db_ca_file=str(tls_backends.ca),
            redis_ca_file=str(tls_backends.ca),
        )
    )
    answer = app.test_client().get("/health/ready")
    assert answer.status_code == 200, answer.get_json()
    with app.app_context():
        encrypted = db.session.scalar(
            text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        )
        db.engine.dispose()
    assert encrypted is True


def test_db_upgrade_at_head_still_verifies_the_certificate(tls_backends: TlsBackends) -> None:
    """`db upgrade` on a database already at head answers from one query before building the
    app: that query must not connect with less than the app's verification."""
    ca, other = str(tls_backends.ca), str(tls_backends.other_ca)
    env = app_env(tls_backends.database_url, tls_backends.redis_url, APP_DB_CA_FILE=ca)
    run_cli_in_process("db", "upgrade", env=env)  # at head from here on
    refused = run_cli_in_process("db", "upgrade", env={**env, "APP_DB_CA_FILE": other}, check=False)
    assert refused.returncode != 0
    assert "certificate verify failed" in refused.stderr


def test_a_certificate_from_another_ca_is_refused(tls_backends: TlsBackends) -> None:
    app = build_app(
        make_settings(
            tls_backends.database_url,
            tls_backends.redis_url,
            db_ca_file=str(tls_backends.other_ca),
            redis_ca_file=str(tls_backends.other_ca),
        )
    )
    answer = app.test_client().get("/health/ready")
    assert answer.status_code == 503
    assert answer.get_json()["checks"] == {"database": "unavailable", "redis": "unavailable"}
    with app.app_context():
        db.engine.dispose()


def test_a_ca_file_without_rediss_is_refused() -> None:
    from server.config import SettingsError, load_settings

    with pytest.raises(SettingsError, match="APP_REDIS_CA_FILE"):
        load_settings(
            environ={"APP_ENV_FILE": "/nonexistent"},
            database_url="postgresql+psycopg2://x@127.0.0.1:1/x",
            redis_url="redis://127.0.0.1:1/0",
            redis_ca_file="/etc/ssl/ca.pem",
        )
