"""N server instances behind nginx, on PgBouncer (transaction pooling) and one Redis: real parts,
all on 127.0.0.1, as the unprivileged test user, in a temp dir. Used by tests/scale and by
bench/scale_out.py.

- nginx balances round robin with passive health checks (`max_fails`, `fail_timeout`) and
  `proxy_next_upstream` for idempotent requests (nginx never resends a POST once sent).
- PgBouncer in transaction mode sees no `options` startup parameter (it would refuse it): the
  instances run with APP_DB_STATEMENT_TIMEOUT_MS=0 and the role carries statement_timeout.
- Each instance is ``flask-nix-stack serve`` (gunicorn unless APP_SERVER says otherwise) on a
  fixed port, so a restarted instance comes back where nginx expects it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import requests

from .cluster_load import DENSE_RATE, SPARSE_RATE, Load
from .processes import (
    START_TIMEOUT,
    Server,
    app_env,
    auth_headers,
    child_pids,
    script,
    spawn_server,
)
from .servers import Postgres, free_port, nginx_conf, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
ROLE = "fns_scale"
# nginx's passive health check: a backend that fails once is skipped for this many seconds.
FAIL_TIMEOUT = 2
# What the role gets instead of the startup option PgBouncer would refuse.
ROLE_STATEMENT_TIMEOUT = "5s"
# Requests a restarted instance answers through nginx, under the dense load, before a restart
# counts as done: its first moments back in the pool are among the risky ones.
REJOIN_ANSWERS = 10
# Requests that end after a restart began, under the dense load, before it eases the load.
CROSSING = 20
# What the tests run: one worker per instance. What is tested there is the instances' part
# (drain, stop, kill, rejoin, shared state); what a second worker adds at a stop or a kill (its
# own listener, a worker dying alone) tests/faults/test_fault_server.py tests with two, for
# each server. An instance boots in about half the time and CPU (granian imports the app in
# every worker). The default stays the server's own two (bench/scale_out.py).
ONE_WORKER = "1"  # APP_WORKERS
# A bound for a failure only, on what a restart waits for in nginx's traffic.
TRAFFIC_TIMEOUT = 60


def missing_tools() -> list[str]:
    return [tool for tool in (NGINX, PGBOUNCER) if not Path(tool).exists()]


@dataclass
class PgBouncer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # SIGINT: shut down, close every connection
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_pgbouncer(pg: Postgres, database: str, workdir: Path) -> PgBouncer:
    port = free_port()
    (workdir / "userlist.txt").write_text(f'"{ROLE}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        textwrap.dedent(
            f"""\
            [databases]
            {database} = host={pg.host} port={pg.port} dbname={database}

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = trust
            auth_file = {workdir}/userlist.txt
            pool_mode = transaction
            default_pool_size = 20
            max_client_conn = 500
            ; psycopg2 sends no other startup parameter; `options` stays refused on purpose.
            ignore_startup_parameters = extra_float_digits
            logfile = {workdir}/pgbouncer.log
            pidfile = {workdir}/pgbouncer.pid
            """
        )
    )
    process = subprocess.Popen(
        [PGBOUNCER, str(workdir / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bouncer = PgBouncer(process, port, workdir)

    def answers() -> bool:
        import psycopg2

        psycopg2.connect(host="127.0.0.1", port=port, user=ROLE, dbname=database).close()
        return True

    try:
        wait_until(answers, 15, "PgBouncer")
    except TimeoutError:
        bouncer.stop()
        raise
    return bouncer


@dataclass
class Nginx:
    """nginx as the load balancer, in its own prefix; ``set_down`` + ``reload`` drain a backend."""

    prefix: Path
    port: int
    backends: list[int]
    down: set[int] = field(default_factory=set)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n".join(
            f"    server 127.0.0.1:{port} max_fails=1 fail_timeout={FAIL_TIMEOUT}s"
            + (" down" if port in self.down else "")
            + ";"
            for port in self.backends
        )
        return nginx_conf(
            self.prefix,
            f"upstream api {{\n{servers}\n}}\n"
            + textwrap.dedent(
                f"""\
            server {{
                listen 127.0.0.1:{self.port};
                location / {{
                    proxy_pass http://api;
                    proxy_http_version 1.1;
                    proxy_set_header Host $host;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    proxy_set_header X-Forwarded-Proto $scheme;
                    proxy_connect_timeout 1s;
                    proxy_read_timeout 30s;
                    # Idempotent requests only: a POST is never resent once it was sent.
                    proxy_next_upstream error timeout http_502 http_503 http_504;
                    proxy_next_upstream_tries 3;
                    add_header X-Upstream $upstream_addr always;
                }}
            }}
            """
            ),
        )

    def start(self) -> None:
        (self.prefix / "nginx.conf").write_text(self.config())
        self.process = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(self.prefix),
                "-c",
                "nginx.conf",
                "-e",
                str(self.prefix / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: requests.get(f"{self.base}/health/live", timeout=1).ok, 15, "nginx")

    def workers(self) -> set[int]:
        assert self.process is not None
        return child_pids(self.process.pid)

    def reload(self) -> None:
        """Rewrite the config and reload; returns once the old workers are gone (nginx lets
        them finish their requests first), so no request can reach a drained backend."""
        assert self.process is not None
        (self.prefix / "nginx.conf").write_text(self.config())
        old = self.workers()
        self.process.send_signal(signal.SIGHUP)
        # Polled every 5 ms (a read of /proc), not wait_until's 50: a restart's drain and
        # put-back are reloads under the dense load, which ran on past a done reload until
        # the next look (up to 12 requests each, every one answered under coverage).
        deadline = time.monotonic() + 30
        while not ((workers := self.workers()) and not (workers & old)):
            if time.monotonic() > deadline:
                raise TimeoutError("nginx reload not done after 30s")
            time.sleep(0.005)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def ready(port: int) -> bool:
    """Whether the instance on ``port`` answers /health/ready with 200. Polled 20 times a
    second through every boot: http.client, a sixth of what requests.get costs the test."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health/ready", headers={"Connection": "close"})
        return connection.getresponse().status == 200
    finally:
        connection.close()


def start_instances(env: dict[str, str], ports: list[int], log_dir: Path) -> list[Server]:
    """``flask-nix-stack serve`` on each of ``ports``, all started at once, as a deployment
    starts its instances; returned once every one is ready (database and Redis answer)."""
    kind = env.get("APP_SERVER", "granian")
    servers = []
    for port in ports:
        log_path = log_dir / f"{kind}-{port}-{uuid.uuid4().hex[:6]}.log"
        full_env = {**env, "APP_BIND": f"127.0.0.1:{port}"}
        servers.append(spawn_server(full_env, port, log_path))
    workers = int(env.get("APP_WORKERS", "2"))

    def ready_or_exited(server: Server) -> bool:
        return server.process.poll() is not None or ready(server.port)

    def has_workers(server: Server) -> bool:
        return len(server.workers()) == workers

    for server in servers:
        try:
            # Generous: in a parallel run (load 30 on 2 cores) a start once took over 30 s, with
            # nothing logged yet; instances booting side by side share the cores, so the first
            # may take as long as all of them one after the other. An exit fails at once.
            wait_until(partial(ready_or_exited, server), START_TIMEOUT * len(ports), "ready")
            if server.process.poll() is not None:
                raise AssertionError(f"instance on {server.port} exited:\n{server.log()}")
            wait_until(partial(has_workers, server), 15, "server workers")
        except (TimeoutError, AssertionError) as error:
            for each in servers:
                each.stop()
            if isinstance(error, AssertionError):
                raise
            raise AssertionError(
                f"instance on {server.port} did not start:\n{server.log()}"
            ) from None
    return servers


def start_instance(env: dict[str, str], port: int, log_dir: Path) -> Server:
    """``flask-nix-stack serve`` on ``port``, once it is ready (database and Redis answer)."""
    return start_instances(env, [port], log_dir)[0]


@dataclass
class Restart:
    """When each step of ``Cluster.restart`` ended (time.monotonic()), for the load's figures."""

    port: int
    began: float  # the drain began, or (without it) SIGTERM was sent
    drained: float  # nginx sends it nothing new: reloaded, or (without) it passed one on
    eased: float  # the load went sparse, CROSSING requests having ended since it began
    stopped: float  # the old process exited
    ready: float  # the replacement answered /health/ready
    rejoined: float  # put back in nginx, or (without the drain) it answered one through it
    served: float  # it had answered REJOIN_ANSWERS more requests through nginx


def stop_all(servers: list[Server]) -> None:
    """SIGTERM to every server first, then wait for each: they stop side by side."""
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        server.wait_stopped()


@dataclass
class Cluster:
    nginx: Nginx
    bouncer: PgBouncer
    instances: list[Server]
    env: dict[str, str]
    log_dir: Path
    direct: Postgres
    database: str

    @property
    def base(self) -> str:
        return self.nginx.base

    @property
    def headers(self) -> dict[str, str]:
        """The bootstrap admin token the first `db upgrade` stored (support.processes)."""
        return auth_headers(self.env)

    def restart(self, index: int, load: Load, drain: bool = True) -> Restart:
        """Rolling restart of one instance under ``load``: drain it in nginx (unless ``drain``
        is false), stop it (SIGTERM: in-flight requests finish), start it again on its port,
        wait until ready, put it back, and return once it has answered REJOIN_ANSWERS
        requests through nginx.

        The load is dense across the risky moments: the drain's reload (or, without it, the
        SIGTERM until nginx has met the stopping instance and passed a request on), then the
        put-back and the replacement's first answers. In between, while nothing reaches the
        instance (drained, or marked failed by nginx), it is sparse."""
        old = self.instances[index]
        port = old.port
        load.pace(DENSE_RATE)
        began = time.monotonic()
        if drain:
            self.nginx.down.add(port)
            self.nginx.reload()
        else:
            old.process.send_signal(signal.SIGTERM)  # in-flight requests finish
            # What this restart is about: nginx met the stopping instance (refused, or reset
            # by it once stopped) and passed the request on; then it marks it failed.
            load.wait_for(
                lambda: bool(load.passed_on_from(port, began)),
                TRAFFIC_TIMEOUT,
                f"nginx passing on a request the stopping instance on {port} failed",
            )
        drained = time.monotonic()
        load.wait_for(
            lambda: len(load.ended_since(began)) >= CROSSING,
            TRAFFIC_TIMEOUT,
            f"{CROSSING} requests across the stop of {port}",
        )
        eased = time.monotonic()
        load.pace(SPARSE_RATE)
        if drain:
            old.process.send_signal(signal.SIGTERM)
        assert old.wait_stopped() == 0, old.log()
        stopped = time.monotonic()
        self.instances[index] = start_instance(self.env, port, self.log_dir)
        ready = time.monotonic()
        if drain:
            load.pace(DENSE_RATE)
            self.nginx.down.discard(port)
            self.nginx.reload()
        else:
            # nginx marked it failed while it was down, and takes it back with the first
            # request it sends it after its fail_timeout. The next restart may go only then,
            # or all three could be marked failed at once.
            load.wait_for(
                lambda: bool(load.answered_by(port, ready)),
                TRAFFIC_TIMEOUT,
                f"nginx taking the restarted instance on {port} back",
            )
            load.pace(DENSE_RATE)
        rejoined = time.monotonic()
        load.wait_for(
            lambda: len(load.answered_by(port, rejoined)) >= REJOIN_ANSWERS,
            TRAFFIC_TIMEOUT,
            f"{REJOIN_ANSWERS} requests answered by the restarted instance on {port}",
        )
        served = time.monotonic()
        return Restart(port, began, drained, eased, stopped, ready, rejoined, served)

    def kill(self, index: int) -> None:
        """SIGKILL the instance: its master and every worker at once, no goodbye."""
        victim = self.instances[index]
        pids = {victim.process.pid, *victim.workers()}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        victim.process.wait(timeout=10)

    def revive(self) -> None:
        """Start every instance that is not running (killed, or left stopped by a failed
        restart) again on its port."""
        for index, instance in enumerate(self.instances):
            if instance.process.poll() is not None:
                self.instances[index] = start_instance(self.env, instance.port, self.log_dir)


def prepare_database(pg: Postgres, name: str, migrated: Callable[[str], str] | None = None) -> str:
    """A database owned by the role the instances use, with the role's timeout: fresh, or
    with ``migrated`` (tests/conftest.py's migrated_database) a copy of the session's
    migrated one, its tables handed to the role as if the role had migrated it. Its name."""
    if migrated is None:
        pg.create_database(name)
    else:
        migrated(name)
    database = name + pg.suffix  # what create_database named it
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE ROLE {ROLE} LOGIN")
        cur.execute(f"ALTER ROLE {ROLE} SET statement_timeout = '{ROLE_STATEMENT_TIMEOUT}'")
        cur.execute(f'ALTER DATABASE "{database}" OWNER TO {ROLE}')
    conn.close()
    if migrated is not None:
        conn = pg.connect(database)
        with conn.cursor() as cur:
            # Tables and views; their sequences and indexes follow them.
            cur.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
            )
            for (relation,) in cur.fetchall():
                cur.execute(f'ALTER TABLE "{relation}" OWNER TO {ROLE}')
        conn.close()
    return database


def migrate_concurrently(env: dict[str, str], count: int) -> list[str]:
    """`db upgrade` from ``count`` processes at once, as instances starting together would."""
    processes = [
        subprocess.Popen(
            [script("flask-nix-stack"), "db", "upgrade"],
            env={**env, "APP_LOG_LEVEL": "INFO"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    failed = [out for process, out in zip(processes, outputs, strict=True) if process.returncode]
    assert not failed, failed
    return outputs


@contextmanager
def cluster(
    pg: Postgres,
    redis_url: str,
    instances: int = 3,
    migrated: Callable[[str], str] | None = None,
    **settings: str,
) -> Iterator[Cluster]:
    """``instances`` servers behind nginx on PgBouncer and ``redis_url``, stopped afterwards.
    Their database is migrated by one `db upgrade` per instance, all at once through PgBouncer,
    as instances starting together would; or, given ``migrated`` (tests/conftest.py's
    migrated_database) where that is not the subject, it is a copy of the session's migrated
    database and no `db upgrade` runs."""
    workdir = Path(tempfile.mkdtemp(prefix="fns-scale-", dir="/tmp"))
    database = prepare_database(pg, f"fns_scale_{uuid.uuid4().hex[:6]}", migrated)
    defaults = {
        "APP_KEY_PREFIX": f"scale-{uuid.uuid4().hex[:8]}",
        "APP_WORKERS": "2",
        # PgBouncer refuses the `options` startup parameter: the role carries the timeout.
        "APP_DB_STATEMENT_TIMEOUT_MS": "0",
        # nginx is the one trusted proxy: the limits key on the address it appends.
        "APP_PROXY_FIX_X_FOR": "1",
        "APP_RATELIMIT_ENABLED": "true",  # counted in Redis on every request, as in production
        "APP_RATELIMIT_DEFAULT": "1000000 per minute",
        "APP_GRACEFUL_TIMEOUT": "10",
        # The measured server: gunicorn's workers close their listeners at once on SIGTERM.
        "APP_SERVER": "gunicorn",
    }
    bouncer: PgBouncer | None = None
    started: list[Server] = []
    nginx: Nginx | None = None
    try:
        bouncer = start_pgbouncer(pg, database, workdir)
        url = f"postgresql+psycopg2://{ROLE}@127.0.0.1:{bouncer.port}/{database}"
        env = app_env(url, redis_url, **{**defaults, **settings})
        if migrated is None:
            migrate_concurrently(env, instances)
        ports: list[int] = []
        while len(ports) < instances:  # none bound yet: the same free port could come twice
            if (port := free_port()) not in ports:
                ports.append(port)
        started = start_instances(env, ports, workdir)
        nginx = Nginx(workdir, free_port(), [s.port for s in started])
        nginx.start()
        yield Cluster(nginx, bouncer, started, env, workdir, pg, database)
    finally:
        if nginx is not None:
            nginx.stop()
        stop_all(started)  # the cluster's own list: restarts replace its entries
        if bouncer is not None:
            bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)
