"""Run the commands the NixOS module generates, the way systemd would, without systemd.

The migrate and web units come from the evaluated module (nix/tests/module-eval.nix). Their store
paths are swapped for the local install, their backends for this session's PostgreSQL and Redis, and
their bind for a free port or a temp socket; credentials and environment files are materialised
as systemd does ($CREDENTIALS_DIRECTORY, EnvironmentFile=). The migration must succeed, the web
server must become ready, survive a SIGHUP reload (ExecReload) and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import contextlib
import getpass
import http.client
import json
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg2 import sql

from support.cli_runner import run_cli_in_process
from support.processes import child_pids

MODULE_EVAL = Path(__file__).resolve().parents[2] / "nix" / "tests" / "module-eval.nix"
LOCAL_BIN = Path(sys.prefix) / "bin"  # the venv running pytest, with the editable server
READY_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 120
RELOAD_TIMEOUT_S = 30.0


@dataclass
class Endpoint:
    """Where the started gunicorn listens: a TCP port or a Unix socket."""

    bind: str
    token: str | None = None  # sent as Authorization: Bearer

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn: http.client.HTTPConnection
        if self.bind.startswith("unix:"):
            conn = UnixHTTPConnection(self.bind.removeprefix("unix:"))
        else:
            host, port = self.bind.rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            payload = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json"} if payload else {}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        finally:
            conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def argv(exec_start: str, facts: dict[str, Any]) -> list[str]:
    """ExecStart split as systemd does (quotes), with the package's store paths made local."""
    words = shlex.split(exec_start)
    for store_path in (facts["packagePath"], facts["runtimeEnvPath"]):
        prefix = f"{store_path}/bin/"
        if words[0].startswith(prefix):
            return [str(LOCAL_BIN / words[0].removeprefix(prefix)), *words[1:]]
    raise AssertionError(f"{exec_start}: not a program of the package")


def read_environment_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of a systemd EnvironmentFile= (no quoting used here)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return dict(pairs)


@pytest.fixture(scope="module")
def cases(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    """The evaluated module's cases, once for both tests: neither changes them (each reads
    its own case), and an evaluation of the module costs seconds of CPU."""
    result: dict[str, Any] = nix_eval(
        f"(import {MODULE_EVAL} {{ lib = import <nixpkgs/lib>; }}).cases"
    )
    return result


@dataclass
class Backends:
    database_url: str
    redis_url: str


def local_backends(facts: dict[str, Any], pg: Any, state_dir: Path) -> Iterator[Backends]:
    """The module's own socket URLs, relocated: what createLocally gives, minus systemd.

    The database is owned by a non-superuser role named like the OS user, as ensureUsers with
    ensureDBOwnership makes it (PostgreSQL 15 lets only the owner create in `public`); the
    test cluster trusts local connections where NixOS uses peer authentication. Redis listens
    on a Unix socket only, as a named services.redis.servers instance does.
    """
    if pg.workdir is None:
        pytest.skip("PostgreSQL is external (PGHOST): cannot add a role and a socket database")
    env = facts["web"]["environment"]
    database = "flask-nix-stack"
    assert env["APP_DATABASE_URL"] == f"postgresql+psycopg2:///{database}?host=/run/postgresql"
    role = getpass.getuser()
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        cur.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(role)
            )
        )
    conn.close()
    database_url = env["APP_DATABASE_URL"].replace(
        "host=/run/postgresql", f"host={pg.workdir}&port={pg.port}"
    )

    module_socket = facts["redis"]["unixSocket"]
    assert env["APP_REDIS_URL"] == f"unix://{module_socket}?db=0"
    sock = state_dir / "redis.sock"
    redis_server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            str(facts["redis"]["unixSocketPerm"]),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(state_dir),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not sock.exists():
            assert redis_server.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server socket did not appear"
            time.sleep(0.05)
        yield Backends(database_url, env["APP_REDIS_URL"].replace(module_socket, str(sock)))
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=30)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Short: it may hold the gunicorn socket (path limit ~107 bytes).
    path = Path(tempfile.mkdtemp(prefix="fns-unit-", dir="/tmp"))
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def unit_environment(
    facts: dict[str, Any], state_dir: Path, database_url: str, redis_url: str
) -> tuple[dict[str, str], Endpoint]:
    """The web unit's environment as systemd would build it, pointed at this test's servers."""
    unit = facts["web"]
    env = {
        "PATH": f"{LOCAL_BIN}:/usr/bin:/bin",
        "HOME": str(state_dir),
        "LANG": "C.UTF-8",
        **unit["environment"],
    }
    if unit["environment"]["APP_BIND"].startswith("unix:"):
        bind = f"unix:{state_dir}/web.sock"
    else:
        bind = f"127.0.0.1:{free_port()}"
    env |= {"APP_DATABASE_URL": database_url, "APP_REDIS_URL": redis_url, "APP_BIND": bind}

    service = unit["serviceConfig"]
    if service["LoadCredential"]:
        creds = state_dir / "credentials"
        creds.mkdir(mode=0o700)
        for entry in service["LoadCredential"]:
            name = entry.split(":", 1)[0]
            (creds / name).write_text(secrets.token_urlsafe(48), encoding="utf-8")
            (creds / name).chmod(0o400)
        env["CREDENTIALS_DIRECTORY"] = str(creds)
    for _ in service["EnvironmentFile"]:
        env_file = state_dir / "secrets.env"
        env_file.write_text(f"APP_SECRET_KEY={secrets.token_urlsafe(48)}\n", encoding="utf-8")
        env |= read_environment_file(env_file)  # EnvironmentFile= wins over Environment=
    return env, Endpoint(bind)


def run_command(command: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"{shlex.join(command)} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout + proc.stderr


def run_cli_as_the_unit(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """``flask-nix-stack ARGS`` with the unit's environment and working directory, run in this
    process (support/cli_runner.py); its output."""
    with contextlib.chdir(cwd):
        result = run_cli_in_process(*args, env=env, check=False)
    assert result.returncode == 0, (
        f"{shlex.join(args)} exited {result.returncode}:\n{result.stderr}"
    )
    return result.stdout + result.stderr


def wait_ready(server: subprocess.Popen[bytes], endpoint: Endpoint, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last: object = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited {server.returncode}:\n{log.read_text()}")
        try:
            status, body = endpoint.request("GET", "/health/ready")
            if status == 200:
                return body  # type: ignore[no-any-return]
            last = (status, body)
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    pytest.fail(f"/health/ready not 200 after {READY_TIMEOUT_S}s ({last}):\n{log.read_text()}")


def wait_replaced(server: subprocess.Popen[bytes], log: Path, count: int) -> None:
    """SIGHUP (ExecReload): the same main process replaces all ``count`` workers with new ones.

    Every worker is up first: gunicorn forks them a random fraction of 0.1 s apart, and the
    first one already answers /health/ready. Taken too early, the set before the reload missed
    the second worker, and the two after it never matched that set's size."""
    old = wait_workers(server, log, count, lambda pids: True)
    server.send_signal(signal.SIGHUP)
    wait_workers(server, log, count, lambda pids: not pids & old)


def wait_workers(
    server: subprocess.Popen[bytes], log: Path, count: int, wanted: Callable[[set[int]], bool]
) -> set[int]:
    """The server's ``count`` workers, once there are that many and they are ``wanted``."""
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    workers: set[int] = set()
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited {server.returncode}:\n{log.read_text()}")
        workers = child_pids(server.pid)
        if len(workers) == count and wanted(workers):
            return workers
        time.sleep(0.05)
    pytest.fail(
        f"workers {workers}, not {count} as wanted, after {RELOAD_TIMEOUT_S}s:\n{log.read_text()}"
    )


@pytest.fixture
def backends(
    request: pytest.FixtureRequest,
    cases: dict[str, Any],
    pg: Any,
    redis_url: str,
    state_dir: Path,
) -> Iterator[Backends]:
    """Local case: the module's socket URLs, relocated; external case: this session's servers."""
    case = request.node.callspec.params["case"]
    if case == "local":
        yield from local_backends(cases[case], pg, state_dir)
    else:
        yield Backends(pg.create_database(f"fns_module_{case}"), redis_url)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["local", "external"])
def test_generated_units_run(
    case: str,
    cases: dict[str, Any],
    backends: Backends,
    state_dir: Path,
) -> None:
    for script in ("flask-nix-stack", "gunicorn"):
        if not (LOCAL_BIN / script).exists():
            pytest.skip(f"{LOCAL_BIN / script} missing: install the server into this venv")
    facts = cases[case]
    env, endpoint = unit_environment(facts, state_dir, backends.database_url, backends.redis_url)
    assert facts["migrate"]["environment"] == facts["web"]["environment"]

    # That it reached the head is checked below: /health/ready answers database "ok" only then.
    run_command(argv(facts["migrate"]["serviceConfig"]["ExecStart"], facts), env, state_dir)
    # Every API call needs a token: made with the CLI in the unit's environment, as
    # flask-nix-stack-manage would (principals create, tokens create prints it alone). In this
    # process: the units' own commands above and below are the real processes under test.
    run_cli_as_the_unit(["principals", "create", f"unit-{case}"], env, state_dir)
    create = ["tokens", "create", "--principal", f"unit-{case}", "--scope", "read"]
    output = run_cli_as_the_unit([*create, "--scope", "write"], env, state_dir)
    endpoint.token = next(line for line in output.splitlines() if line.startswith("fns_"))

    log = state_dir / "gunicorn.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            argv(facts["web"]["serviceConfig"]["ExecStart"], facts),
            env=env,
            cwd=state_dir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = wait_ready(server, endpoint, log)
        assert ready["checks"] == {"database": "ok", "redis": "ok"}  # the schema is at head
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        if case == "external":  # gunicorn.extraArgs: one argument each, space kept
            assert b"--name=api server" in cmdline

        status, project = endpoint.request("POST", "/api/v1/projects", {"name": f"unit-{case}"})
        assert status == 201, project

        wait_replaced(server, log, int(env["APP_WORKERS"]))
        wait_ready(server, endpoint, log)
        status, read_back = endpoint.request("GET", f"/api/v1/projects/{project['id']}")
        assert (status, read_back["name"]) == (200, f"unit-{case}")
    finally:
        server.send_signal(signal.SIGTERM)  # systemctl stop (KillMode=mixed: TERM to the master)
        try:
            exit_code = server.wait(timeout=35)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
    assert exit_code == 0, log.read_text()
