"""Ephemeral PostgreSQL and Redis servers for the tests, or the ones the environment names.

Under Nix's postgresqlTestHook / redisTestHook (PGHOST, PGUSER, PGDATABASE, REDIS_SOCKET) the
suite uses those; otherwise it starts its own in a temp dir on free ports, and stops them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
from psycopg2 import sql


class MissingTool(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_answer(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as raw bytes to 127.0.0.1:``port``; its status, headers (lower-cased
    names) and body, read until the server closes or the body its Content-Length announces is
    in (a server refusing a request whose body never came, nginx's 413, may otherwise keep the
    connection for its lingering close: 5 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # a server may answer and close before reading it all
            sock.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while (data := sock.recv(65536)) and not _complete(answer := answer + data):
                pass
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response with a Content-Length."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def nginx_conf(
    prefix: Path | str, http: str, events: str = "worker_connections 1024;", main: str = ""
) -> str:
    """An nginx.conf for an unprivileged nginx in the foreground with all its files under
    ``prefix``; ``http`` is the body of its http block (upstreams and servers), ``events`` of
    its events block, and ``main`` lines last in the main context (as nixpkgs renders
    eventsConfig and appendConfig)."""
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"worker_processes 1;\ndaemon off;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\n"
        f"events {{ {events} }}\n"
        f"http {{\n    access_log off;\n{temp_paths}"
        + textwrap.indent(textwrap.dedent(http).strip("\n"), "    ")
        + "\n}\n"
        + main
    )


def find_postgres_bindir() -> Path:
    """Where initdb and postgres are: PATH, then pg_config --bindir, then Debian's layout."""
    if found := shutil.which("initdb"):
        return Path(found).parent
    if pg_config := shutil.which("pg_config"):
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir and Path(bindir, "initdb").exists():
            return Path(bindir)
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    raise MissingTool(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH, via pg_config, or in "
        "/usr/lib/postgresql/*/bin: apt-get install postgresql, or use `nix develop`"
    )


def postgres_version() -> str:
    """What ``postgres --version`` says of the first PostgreSQL found (find_postgres_bindir):
    the one the suite's servers run."""
    return subprocess.run(
        [str(find_postgres_bindir() / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # not up yet; the deadline decides
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout}s")
        time.sleep(0.05)


def wait_until_connects(connect: Callable[[], Any], timeout: float, what: str) -> None:
    """wait_until ``connect()`` opens a connection (closed again at once)."""

    def check() -> bool:
        connect().close()
        return True

    wait_until(check, timeout, what)


@dataclass
class Postgres:
    """A PostgreSQL server reachable as a superuser; ``url(db)`` gives SQLAlchemy URLs."""

    host: str
    port: int
    user: str
    password: str | None = None
    default_db: str = "postgres"
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    created: list[str] = field(default_factory=list)
    # Appended to every database name: pytest-xdist workers sharing one server (PGHOST) each get
    # databases of their own.
    suffix: str = ""

    def url(self, database: str) -> str:
        auth = quote(self.user) + (f":{quote(self.password)}" if self.password else "")
        if self.host.startswith("/"):
            return f"postgresql+psycopg2://{auth}@/{database}?host={self.host}&port={self.port}"
        return f"postgresql+psycopg2://{auth}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.default_db,
        )
        conn.autocommit = True
        return conn

    def create_database(
        self, name: str, template: str | None = None, encoding: str = "UTF8"
    ) -> str:
        """A new database (dropped first if a previous run left it), empty, in ``encoding``,
        or a copy of ``template`` (a name given to create_database before, with no session
        open on it); its URL."""
        name += self.suffix
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template + self.suffix))
        else:
            # Not the server's default: a cluster made without a locale (Nix's
            # postgresqlTestHook in the build sandbox, LANG unset) defaults to SQL_ASCII.
            create += sql.SQL(" ENCODING {} " + C_LOCALE_FROM_TEMPLATE0).format(
                sql.Literal(encoding)
            )
        conn = self.connect()  # not `with conn`: psycopg2 would open a transaction
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            cur.execute(create)
        conn.close()
        self.created.append(name)
        return self.url(name)

    def alter_database(self, name: str, clause: str) -> None:
        """``ALTER DATABASE name clause`` (``SET x = y``, ``RESET ALL``) on a database
        create_database made: what a server's operator may set, for sessions opened after."""
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("ALTER DATABASE {} " + clause).format(sql.Identifier(name + self.suffix))
            )
        conn.close()

    def stop(self) -> None:
        if self.process is not None:
            # SIGQUIT is PostgreSQL's "immediate" shutdown, as the Nix test hook stops its own:
            # no shutdown checkpoint of a session's worth of databases (seconds at the end of a
            # suite run) for a data directory deleted right after.
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(timeout=30)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


# A database in an encoding of its own: only template0 may be copied into another one than
# the server's default, and the C locale goes with any encoding.
C_LOCALE_FROM_TEMPLATE0 = "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"


def init_cluster(data: Path) -> Path:
    """A new cluster in ``data``, superuser postgres trusted, in UTF8 whatever LANG says (the
    app needs it: server/infra/database_encoding.py; without a locale it would be SQL_ASCII);
    the directory of the server binaries that made it."""
    bindir = find_postgres_bindir()
    subprocess.run(
        [
            *(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"),
            *("--encoding=UTF8", "--locale=C"),
        ],
        check=True,
        capture_output=True,
    )
    return bindir


def worker_id() -> str:
    """pytest-xdist's worker name (gw0, gw1, ...), or "" outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def start_postgres() -> Postgres:
    if os.environ.get("PGHOST"):
        return Postgres(
            host=os.environ["PGHOST"],
            port=int(os.environ.get("PGPORT", "5432")),
            user=os.environ.get("PGUSER", os.environ.get("USER", "postgres")),
            password=os.environ.get("PGPASSWORD"),
            default_db=os.environ.get("PGDATABASE", "postgres"),
            suffix=f"_{worker_id()}" if worker_id() else "",
        )
    if os.geteuid() == 0:
        raise MissingTool(
            "PostgreSQL refuses to run as root: run the tests as an unprivileged user "
            "(.ci/run does: runuser -u fns -- ...), or set PGHOST to an existing server"
        )
    # Short path: unix socket paths over ~100 bytes break PostgreSQL.
    workdir = Path(tempfile.mkdtemp(prefix="fns-pg-", dir="/tmp"))
    data = workdir / "data"
    bindir = init_cluster(data)
    port = free_port()
    with open(workdir / "postgres.log", "wb") as log:
        process = subprocess.Popen(
            [
                bindir / "postgres",
                "-D",
                data,
                "-p",
                str(port),
                "-k",
                workdir,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    server = Postgres(
        host="127.0.0.1", port=port, user="postgres", process=process, workdir=workdir
    )
    try:
        wait_until_connects(server.connect, 30, "PostgreSQL")
    except TimeoutError:
        server.stop()
        raise
    return server


@dataclass
class Redis:
    url: str
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    port: int | None = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def redis_shared_with_other_workers() -> bool:
    """Whether this worker's Redis is a server other xdist workers use too (Nix's
    redisTestHook: one server, a database each), so server-wide commands reach them."""
    return bool(os.environ.get("REDIS_SOCKET") and worker_id())


def start_redis(port: int | None = None, workdir: Path | None = None) -> Redis:
    if os.environ.get("REDIS_SOCKET") and port is None:
        # One shared server: each pytest-xdist worker gets a database index of its own (the tests
        # flush their database after each test). gw0 -> 1, gw1 -> 2, ...; 0 outside xdist.
        worker = worker_id()
        index = int(worker.removeprefix("gw")) + 1 if worker else 0
        if index > 15:
            raise MissingTool(f"Redis has 16 databases; worker {worker} has none of its own")
        return Redis(url=f"unix://{os.environ['REDIS_SOCKET']}?db={index}")
    binary = shutil.which("redis-server")
    if binary is None:
        raise MissingTool("redis-server not found on PATH: apt-get install redis-server")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="fns-redis-", dir="/tmp"))
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    server = Redis(url=f"redis://127.0.0.1:{port}/0", process=process, workdir=workdir, port=port)
    import redis

    try:
        wait_until(lambda: redis.Redis.from_url(server.url).ping(), 15, "Redis")
    except TimeoutError:
        server.stop()
        raise
    return server
