"""The production server under process faults: SIGTERM with requests in flight, a worker killed,
slow clients. Each runs against the default server (granian) and gunicorn."""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

from support.processes import authed, child_pids, spawn_server
from support.servers import free_port
from support.slow_clients import fresh_get, slow_clients, slow_readers

TIMEOUT = 5.0
# Both servers `flask-nix-stack serve` can run; the fixture of that name picks one.
both_servers = pytest.mark.parametrize("server_kind", ["granian", "gunicorn"])
# The line each server logs once it has taken a SIGTERM.
STOPPING = {"granian": "Shutting down granian", "gunicorn": "Handling signal: term"}


def create_project(base: str) -> dict[str, Any]:
    response = authed.post(
        f"{base}/api/v1/projects", json={"name": f"server-fault-{uuid.uuid4().hex}"}, timeout=5
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def blocked_on_locks(conn: Any, count: int) -> bool:
    """``count`` sessions of this database wait on a lock (our in-flight requests)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cur.fetchone()[0] == count)


def new_connection(port: int) -> str:
    """What a new client meets: refused, reset, closed, timeout or answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return "answered" if sock.recv(1024) else "closed"
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "timeout"


@dataclass
class Drain:
    """What happened around a SIGTERM sent while two requests were blocked in PostgreSQL."""

    results: dict[int, requests.Response | Exception]
    exit_status: int
    new_while_draining: str
    late_socket_outcome: str
    descriptions: set[str]


def late_outcome(sock: socket.socket) -> str:
    """What a connection opened during the drain got in the end."""
    try:
        return "answered" if sock.recv(1024) else "closed"
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "timeout"
    finally:
        sock.close()


def sigterm_with_requests_in_flight(
    server: Any, database_url: str, poll: Callable[..., float]
) -> Drain:
    """Hold row locks, start two PATCHes (one per gunicorn sync worker), SIGTERM the main
    process, then release."""
    graceful = int(server.env["APP_GRACEFUL_TIMEOUT"])
    projects = [create_project(server.base) for _ in range(2)]
    ids = [p["id"] for p in projects]
    dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
    locker = psycopg2.connect(dsn)
    watcher = psycopg2.connect(dsn)
    watcher.autocommit = True
    results: dict[int, requests.Response | Exception] = {}

    def patch(project_id: int) -> None:
        try:
            results[project_id] = authed.patch(
                f"{server.base}/api/v1/projects/{project_id}",
                json={"description": "finished after SIGTERM"},
                timeout=graceful + 10,
            )
        except requests.RequestException as exc:
            results[project_id] = exc

    threads = [threading.Thread(target=patch, args=(i,), daemon=True) for i in ids]
    late = socket.socket()
    late.settimeout(graceful + 5)
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT id FROM projects WHERE id = ANY(%s) FOR UPDATE", (ids,))
        for thread in threads:
            thread.start()
        # Two requests, each blocked inside PostgreSQL on our row locks.
        poll(lambda: blocked_on_locks(watcher, 2), 10, "both requests waiting on the lock")

        server.process.send_signal(signal.SIGTERM)
        poll(lambda: STOPPING[server.kind] in server.log(), 5, "the server handling SIGTERM")
        draining = new_connection(server.port)
        try:
            late.connect(("127.0.0.1", server.port))
            late.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        except OSError:
            pass  # refused: what late_outcome will report too
        time.sleep(1)
        assert all(thread.is_alive() for thread in threads)  # still held by the lock
        locker.commit()  # releases the row locks
        for thread in threads:
            thread.join(timeout=graceful + 10)
        # A bound for a failure only: a loaded machine (load 20-30 here) once took longer
        # than the graceful timeout itself to see gunicorn exit.
        status = server.process.wait(timeout=graceful + 30)
        with watcher.cursor() as cur:
            cur.execute("SELECT description FROM projects WHERE id = ANY(%s)", (ids,))
            descriptions = {row[0] for row in cur.fetchall()}
        return Drain(results, status, draining, late_outcome(late), descriptions)
    finally:
        late.close()
        locker.close()
        watcher.close()


@pytest.mark.slow
@both_servers
def test_sigterm_finishes_requests_in_flight(
    server_kind: str,
    fault_env: dict[str, str],
    faults_database: str,
    serve: Callable[..., Any],
    poll: Callable[..., float],
) -> None:
    # Long enough that the held lock, not the statement timeout, decides when requests end.
    # granian: two threads per worker, so both PATCHes run at once even on one worker (gunicorn
    # would switch sync workers to gthread for threads > 1).
    threads = {"APP_THREADS": "2"} if server_kind == "granian" else {}
    server = serve(fault_env, APP_DB_STATEMENT_TIMEOUT_MS="30000", **threads)
    drain = sigterm_with_requests_in_flight(server, faults_database, poll)

    for response in drain.results.values():
        assert isinstance(response, requests.Response), response
        assert response.status_code == 200, response.text
    assert drain.descriptions == {"finished after SIGTERM"}  # committed, not rolled back
    assert drain.exit_status == 0
    # A client that connected during the drain is never served by a stopping server.
    assert drain.late_socket_outcome in {"reset", "closed"}
    if server_kind == "gunicorn":
        # gunicorn refuses new clients at once (or resets one that reached the backlog just
        # before the stop), so they can retry elsewhere (server/gunicorn_conf.py
        # post_worker_init). granian keeps listening until its workers have drained: a new
        # client waits in the backlog, then is reset (README, "Production server").
        assert drain.new_while_draining in {"refused", "reset"}
    # After the exit it is refused.
    assert new_connection(server.port) == "refused"


@pytest.mark.slow
@pytest.mark.parametrize("server_kind", ["gunicorn"])
def test_sigterm_finishes_gthread_requests_in_flight(
    fault_env: dict[str, str],
    faults_database: str,
    serve: Callable[..., Any],
    poll: Callable[..., float],
) -> None:
    """gthread drains as gunicorn made it (server/gunicorn_conf.py post_worker_init closes
    only the sync worker's listeners early): both in-flight PATCHes, one worker with two
    threads, finish and commit, and no client is served by the stopping server: one that
    connects during the drain waits in the backlog and is reset (gunicorn 27, as under granian),
    or is closed (gunicorn 23, which nixpkgs ships)."""
    server = serve(
        fault_env,
        APP_WORKER_CLASS="gthread",
        APP_THREADS="2",
        APP_WORKERS="1",
        APP_DB_STATEMENT_TIMEOUT_MS="30000",
    )
    drain = sigterm_with_requests_in_flight(server, faults_database, poll)

    for response in drain.results.values():
        assert isinstance(response, requests.Response), response
        assert response.status_code == 200, response.text
    assert drain.descriptions == {"finished after SIGTERM"}
    assert drain.exit_status == 0
    assert drain.late_socket_outcome in {"reset", "closed"}
    assert drain.new_while_draining in {"timeout", "reset", "closed"}
    assert new_connection(server.port) == "refused"
    assert "Traceback" not in server.log()


def victim_gone(pid: int) -> bool:
    """Every thread of the process has exited: only then are its sockets closed. (Its leader,
    what /proc/<pid>/stat shows, can be a zombie while other threads still hold the files:
    seen here with granian's Rust threads, the killed worker's listener still open.)"""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"} and tasks == [str(pid)]


def gone(pid: int) -> bool:
    """The process has exited: an orphan is reaped by its new parent when that gets to it, so a
    zombie counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def listening_sockets(port: int) -> set[str]:
    """The sockets listening on ``port`` (IPv4 and IPv6), as /proc/<pid>/fd links name them."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
                found.add(f"socket:[{fields[9]}]")
    return found


def every_worker_listens(server: Any) -> bool:
    """Every worker holds a socket listening on the server's port. gunicorn's workers inherit
    their master's; granian's bind their own with SO_REUSEPORT (granian 2.8 on Linux: src/net.rs
    ListenerSpec::as_socket) or inherit the master's (granian 2.5, nixpkgs 25.11's): either way
    a worker without one serves nothing yet, and the kernel sends every connection to the
    others."""
    sockets = listening_sockets(server.port)
    workers = server.workers()
    return bool(workers) and all(
        any(link.readlink().name in sockets for link in Path(f"/proc/{pid}/fd").iterdir())
        for pid in workers
    )


@pytest.mark.slow
@both_servers
def test_killed_worker_is_replaced(
    fault_env: dict[str, str], serve: Callable[..., Any], poll: Callable[..., float]
) -> None:
    """Requests made once a SIGKILLed worker is gone are all served, by the survivor and then
    by its replacement. (A request the dead worker had taken, or that the kernel had queued on
    its own socket, is lost with it, in any server; nginx passes idempotent ones on.)"""
    server = serve(fault_env)
    poll(lambda: every_worker_listens(server), 30, "every worker listening")
    project = create_project(server.base)
    url = f"{server.base}/api/v1/projects/{project['id']}"
    before = server.workers()
    assert len(before) == 2
    victim = min(before)

    os.kill(victim, signal.SIGKILL)
    poll(lambda: victim_gone(victim), 10, "the killed worker torn down")
    # The survivor serves while the master notices and forks a replacement.
    statuses = [authed.get(url, timeout=TIMEOUT).status_code for _ in range(10)]
    poll(lambda: len(server.workers() - before) == 1, 15, "a replacement worker")
    after = server.workers()
    assert victim not in after
    assert len(after) == 2
    statuses += [
        authed.post(
            f"{server.base}/api/v1/tags", json={"name": uuid.uuid4().hex[:20]}, timeout=TIMEOUT
        ).status_code
        for _ in range(5)
    ]
    statuses += [authed.get(url, timeout=TIMEOUT).status_code for _ in range(20)]
    assert set(statuses) <= {200, 201}, statuses
    assert server.process.poll() is None


# The largest answer the app sends: Swagger UI's script, a file of flask-swagger-ui's.
SWAGGER_BUNDLE = "/docs/assets/swagger-ui-bundle.js"


@pytest.mark.slow
def test_slow_clients_do_not_stall_fresh_clients(
    fault_env: dict[str, str], serve: Callable[..., Any]
) -> None:
    """200 connections trickling headers and 20 trickling bodies: the default server reads both
    without a Python thread (server/rsgi.py), so fresh clients are still served. So are 50 that
    ask for the largest answer (the 1.7 MB Swagger bundle), four times over, and never read it:
    granian writes answers, not the app's threads. (gunicorn's sync workers are served by none
    of these: 4 slow clients stall 2 workers; it needs nginx in front.)"""
    # One worker: the slow clients are read by granian's Rust side, whatever the number of
    # workers; with one, no second worker can take up fresh clients that a stalled one left.
    server = serve(fault_env, APP_WORKERS="1")
    with (
        slow_clients("127.0.0.1", server.port, trickle=200, bodies=20) as attackers,
        slow_readers("127.0.0.1", server.port, 50, SWAGGER_BUNDLE),
    ):
        assert attackers.connected() == 220
        # fresh_get raises unless a complete 200 arrives; 5 s is only the failure criterion,
        # a stalled server never answers at all.
        for _ in range(20):
            fresh_get("127.0.0.1", server.port, timeout=5.0)
        created = authed.post(
            f"{server.base}/api/v1/projects", json={"name": uuid.uuid4().hex}, timeout=5
        )
        assert created.status_code == 201, created.text
        # The slow clients were kept, not dropped to make room.
        assert attackers.connected() == 220
        assert attackers.reopened == 0
    assert server.stop() == 0
    # A body that never completed never reached the app: no half-parsed request logged.
    assert '"POST /api/v1/projects" 400' not in server.log()


@pytest.mark.slow
def test_a_body_past_app_body_memory_waits_for_a_slot(
    fault_env: dict[str, str], serve: Callable[..., Any]
) -> None:
    """APP_BODY_MEMORY bounds the bodies a worker holds at once. With room for two bodies of
    APP_MAX_CONTENT_LENGTH + 1 bytes, two clients trickling theirs hold both slots until
    APP_TIMEOUT refuses them (408): a third body, complete, waits until then, while a request
    without a body is answered at once. (At the default, 512 slots, the third is answered at
    once too.)"""
    limit = 1024
    server = serve(
        fault_env,
        APP_WORKERS="1",
        APP_TIMEOUT="6",
        APP_MAX_CONTENT_LENGTH=str(limit),
        APP_BODY_MEMORY=str(2 * (limit + 1)),
    )
    head = (
        b"POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    trickling = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(2)]
    statuses: list[int] = []
    try:
        for sock in trickling:
            sock.sendall(head + b'{"name": "')
        # Both reach the bridge and take the two slots (granian hands a request over once its
        # head is in: at once, but a loaded machine may take its time).
        time.sleep(1.0)

        def third() -> None:
            created = authed.post(f"{server.base}/api/v1/projects", json={"name": "x"}, timeout=30)
            statuses.append(created.status_code)

        waiting = threading.Thread(target=third)
        waiting.start()
        fresh_get("127.0.0.1", server.port, timeout=5.0)  # no body: never waits for a slot
        # Well before the two are refused (6 s after they took the slots), the third still waits.
        waiting.join(timeout=1.5)
        assert waiting.is_alive()
        assert not statuses, statuses
        refusals = [sock.recv(4096) for sock in trickling]
        waiting.join(timeout=30)
    finally:
        for sock in trickling:
            sock.close()
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in refusals), refusals
    assert statuses == [201]  # a slot came free: taken and answered
    assert server.stop() == 0


IDLE_FLOOD = 1200  # past granian's default capacity for one worker: its listen backlog, 1024


@pytest.mark.slow
def test_idle_connections_past_the_listen_backlog_do_not_stall_fresh_clients(
    fault_env: dict[str, str], serve: Callable[..., Any]
) -> None:
    """Connections that send nothing never reach Python, but each holds one of the connections
    a granian worker takes at once until the head timeout. granian's default (its listen
    backlog over the workers) let 1100 idle sockets from one client stall a 2-worker server
    for 30 s, and again whenever they reconnected; APP_WORKER_CONNECTIONS (4096) takes them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_FLOOD + 256
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this user may open {hard} files, and the flood needs {wanted} (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    server = serve(fault_env, APP_WORKERS="1")
    idle: list[socket.socket] = []
    try:
        idle += [socket.create_connection(("127.0.0.1", server.port)) for _ in range(IDLE_FLOOD)]
        # fresh_get raises unless a complete 200 arrives; a stalled server answers after the
        # head timeout (APP_TIMEOUT, 30 s) at the earliest.
        for _ in range(5):
            fresh_get("127.0.0.1", server.port, timeout=10.0)
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert server.stop() == 0


@pytest.mark.slow
@both_servers
def test_a_client_slower_than_the_timeout_gets_408_not_500(
    server_kind: str, fault_env: dict[str, str], serve: Callable[..., Any]
) -> None:
    """A gunicorn sync worker still waiting for a request head, or for the rest of a body, when
    APP_TIMEOUT runs out is killed by its master; that client was answered 500 and the log had
    a traceback, as for a crash (server/gunicorn_workers.py). granian reads heads in Rust and
    closes such a connection after the same timeout, answering nothing; a body it read with no
    deadline at all: the connection stayed open as long as the client trickled
    (server/wsgi_bridge.py)."""
    server = serve(fault_env, APP_WORKERS="1", APP_TIMEOUT="2")
    slow_head = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # and no more
    slow_body = (
        b"POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name": '
    )
    for request in (slow_head, slow_body):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(request)
            answer = b""
            while data := sock.recv(65536):
                answer += data
        if server_kind == "granian" and request is slow_head:
            assert answer == b""  # hyper's header_read_timeout closes without a word
            continue
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert b"content-type: application/problem+json" in rest.lower()
        fresh_get("127.0.0.1", server.port, timeout=TIMEOUT)  # the replaced worker serves
    log = server.log()
    if server_kind == "gunicorn":
        assert "No request head from ip=127.0.0.1 within the worker timeout" in log
        assert "Request body not complete from ip=127.0.0.1 within the worker timeout" in log
    assert "Traceback" not in log
    assert "Error handling request" not in log
    # The body never reached the app.
    assert '"POST /api/v1/projects"' not in log


# A test hook, put first on a server's PYTHONPATH (ImportHold): a granian worker that comes to
# import the app (server.wsgi, after server/rsgi.py has set its signal handling) marks a file
# named after its pid, adds ".stop" once server/rsgi.py holds a stop signal for it, and goes on
# only when the test writes "release".
HOLD_IN_IMPORT = """
import importlib.abc, multiprocessing, os, sys, time

class HoldInImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "server.wsgi" or multiprocessing.current_process().name != "granian-worker":
            return None
        mark = os.path.join({held!r}, str(os.getpid()))
        open(mark, "w").close()
        stops = sys.modules["server.worker_stops"]
        while not os.path.exists(os.path.join({held!r}, "release")):
            if stops.held and not os.path.exists(mark + ".stop"):
                open(mark + ".stop", "w").close()
            time.sleep(0.01)
        return None

sys.meta_path.insert(0, HoldInImport())
"""


class ImportHold:
    """granian's workers held inside the app's import (HOLD_IN_IMPORT), so a test acts while
    every worker is there instead of guessing it from the time since the fork."""

    def __init__(self, tmp_path: Path) -> None:
        self.hook, self.held = tmp_path / "hook", tmp_path / "held"
        self.hook.mkdir()
        self.held.mkdir()
        (self.hook / "sitecustomize.py").write_text(HOLD_IN_IMPORT.format(held=str(self.held)))

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the hook before any PYTHONPATH it has (Nix's check phase sets one)."""
        path = os.pathsep.join(filter(None, [str(self.hook), env.get("PYTHONPATH")]))
        return {**env, "PYTHONPATH": path}

    def workers(self) -> set[int]:
        return {int(p.name) for p in self.held.iterdir() if p.name.isdigit()}

    def holding_a_stop(self) -> set[int]:
        return {int(p.stem) for p in self.held.glob("*.stop")}

    def release(self) -> None:
        (self.held / "release").touch()


@pytest.mark.slow
def test_stop_during_worker_start_up_is_not_lost(
    fault_env: dict[str, str], tmp_path: Path, poll: Callable[..., float]
) -> None:
    """A SIGTERM while granian's workers import the app stops them gracefully (server/
    worker_stops.py holds it); lost, a worker would be killed after the graceful timeout
    without stopping."""
    log_path = tmp_path / "granian-start.log"
    hold = ImportHold(tmp_path)
    port = free_port()
    env = {
        **fault_env,
        "APP_SERVER": "granian",
        "APP_GRACEFUL_TIMEOUT": "10",
        "APP_BIND": f"127.0.0.1:{port}",
    }
    process = spawn_server(hold.env(env), port, log_path).process
    try:
        poll(lambda: len(hold.workers()) == 2, 60, "both workers inside the import", 0.01)
        assert hold.workers() == child_pids(process.pid)
        process.send_signal(signal.SIGTERM)
        poll(lambda: hold.holding_a_stop() == hold.workers(), 30, "both holding the stop", 0.01)
        hold.release()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert "Shutting down granian" in log
    # Each worker took the stop itself. (granian may still log "Killing worker-N after it
    # refused to gracefully stop" for a worker that is exiting: it checks right after join().)
    for worker in (1, 2):
        assert re.search(rf"Stopping worker-{worker}$", log, re.MULTILINE), log


@pytest.mark.slow
@both_servers
def test_workers_stop_when_the_main_process_is_killed(
    server_kind: str,
    fault_env: dict[str, str],
    serve: Callable[..., Any],
    poll: Callable[..., float],
) -> None:
    """SIGKILL to the main process (a supervisor's last resort) leaves no worker serving on."""
    # A gunicorn sync worker checks its parent only between waits of half the worker timeout
    # (gunicorn/workers/sync.py run_for_one: select() on the listener, then is_parent_alive();
    # the arbiter hands it timeout / 2): 15 s at the default 30. That it exits is what is
    # tested, not after how long, so a short timeout. (granian's workers get SIGTERM from the
    # kernel at once: PR_SET_PDEATHSIG, server/rsgi.py.)
    timeout = {"APP_TIMEOUT": "4"} if server_kind == "gunicorn" else {}
    server = serve(fault_env, **timeout)
    poll(lambda: every_worker_listens(server), 30, "every worker listening")
    workers = server.workers()
    assert len(workers) == 2
    server.process.kill()
    server.process.wait(timeout=10)

    poll(lambda: all(gone(pid) for pid in workers), 30, "the orphaned workers to exit")
    # Nobody answers, nor holds the port: refused, or reset by a listener closing just then.
    assert new_connection(server.port) in {"refused", "reset"}


@pytest.mark.slow
def test_orphaned_worker_ends_its_drain_within_the_graceful_timeout(
    fault_env: dict[str, str],
    faults_database: str,
    serve: Callable[..., Any],
    poll: Callable[..., float],
) -> None:
    """granian's main process SIGKILLed while a request is blocked in PostgreSQL for longer
    than the graceful timeout: its orphaned worker, which no main process will kill, keeps that
    deadline itself (server/rsgi.py _parent_died): the request is cut off, not answered, and
    its write is not committed. Before, an orphan's drain had no deadline: here the request ran
    on until the database's own statement timeout answered it (503), and under load a drain was
    seen to hang for good (in granian's signal handler, or joining a request thread at exit)."""
    graceful = 2
    server = serve(fault_env, APP_WORKERS="1", APP_GRACEFUL_TIMEOUT=str(graceful))
    (worker,) = server.workers()
    project = create_project(server.base)
    dsn = faults_database.replace("postgresql+psycopg2://", "postgresql://")
    locker = psycopg2.connect(dsn)
    watcher = psycopg2.connect(dsn)
    watcher.autocommit = True
    outcome: list[requests.Response | Exception] = []

    def patch() -> None:
        try:
            outcome.append(
                authed.patch(
                    f"{server.base}/api/v1/projects/{project['id']}",
                    json={"description": "written by an orphan"},
                    timeout=60,
                )
            )
        except requests.RequestException as exc:
            outcome.append(exc)

    request = threading.Thread(target=patch, daemon=True)
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT id FROM projects WHERE id = %s FOR UPDATE", (project["id"],))
        request.start()
        poll(lambda: blocked_on_locks(watcher, 1), 10, "the request waiting on the lock")
        server.process.kill()
        server.process.wait(timeout=10)
        # The lock is held throughout: only the deadline can end the worker. A bound for a
        # failure, not a speed expectation (the deadline is 2 s).
        poll(lambda: gone(worker), 30, "the orphan")
    finally:
        locker.rollback()
        locker.close()
    request.join(timeout=30)
    assert outcome, "the PATCH never ended"
    assert not isinstance(outcome[0], requests.Response), outcome  # cut off, never answered
    with watcher.cursor() as cur:
        cur.execute("SELECT description FROM projects WHERE id = %s", (project["id"],))
        assert cur.fetchone() != ("written by an orphan",)
    watcher.close()
    assert new_connection(server.port) in {"refused", "reset"}


@pytest.mark.slow
def test_workers_still_starting_exit_when_the_main_process_is_killed(
    fault_env: dict[str, str], tmp_path: Path, poll: Callable[..., float]
) -> None:
    """granian's main process SIGKILLed while its workers import the app: they exit there and
    then, without finishing the import to start serving (server/rsgi.py). The workers are held
    in the import (ImportHold) and never released."""
    log_path = tmp_path / "granian-orphans.log"
    hold = ImportHold(tmp_path)
    port = free_port()
    env = {**fault_env, "APP_SERVER": "granian", "APP_BIND": f"127.0.0.1:{port}"}
    process = spawn_server(hold.env(env), port, log_path).process
    workers: set[int] = set()
    try:
        poll(lambda: len(hold.workers()) == 2, 60, "both workers inside the import", 0.01)
        workers = child_pids(process.pid)
        assert hold.workers() == workers
        process.kill()
        process.wait(timeout=10)
        poll(lambda: all(victim_gone(pid) for pid in workers), 30, "the orphaned workers exit")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in workers:  # held forever should the test fail
            if not victim_gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert len(workers) == 2
    # No worker went on to serve: each exited inside the import.
    assert "Started worker" not in log_path.read_text(), log_path.read_text()
