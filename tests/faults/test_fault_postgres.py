"""PostgreSQL restarted or a connection lost mid-request: 503 while it is gone, never a 500;
the pool recovers, no 201 is lost, and an answer already made stays as it was."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis as redis_lib
import requests

from support.processes import SESSION_TOKEN, Server, authed
from support.servers import Postgres

TIMEOUT = 5.0
# What docs/fault-tests.md promises: readiness is back within this long after PostgreSQL is.
RECOVERY_SECONDS = 5.0


class Writer(threading.Thread):
    """POSTs projects in a loop; remembers the id of every one answered 201."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.committed: list[int] = []
        self.statuses: dict[int, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {SESSION_TOKEN}"
            self.loop(session)

    def loop(self, session: requests.Session) -> None:
        while not self.halt.is_set():
            response: requests.Response | None = None
            try:
                response = session.post(
                    f"{self.base}/api/v1/projects",
                    json={"name": f"pg-fault-{uuid.uuid4().hex}"},
                    timeout=TIMEOUT,
                )
                status = response.status_code
            except requests.RequestException:
                status = 0
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if response is not None and status == 201:
                self.committed.append(response.json()["id"])
            time.sleep(0.01)


@pytest.mark.slow
def test_postgres_restart_recovers_without_losing_writes(
    own_postgres: Any,
    redis_url: str,
    serve: Callable[..., Any],
    migrated_copy: Callable[..., str],
    env_for: Callable[..., dict[str, str]],
    poll: Callable[..., float],
) -> None:
    database_url = migrated_copy(own_postgres.server, "fns_pg_restart")
    # Two workers: each one's pool must recover (checked through the API at the end).
    server = serve(env_for(database_url, redis_url, APP_DB_CONNECT_TIMEOUT="2"))
    base = server.base
    writer = Writer(base)
    writer.start()
    try:
        poll(lambda: len(writer.committed) >= 20, 15, "writes before the restart")

        own_postgres.stop_fast()
        ready = authed.get(f"{base}/health/ready", timeout=TIMEOUT)
        assert ready.status_code == 503
        assert ready.headers["Content-Type"] == "application/problem+json"
        assert ready.json()["checks"] == {"database": "unavailable", "redis": "ok"}
        assert authed.get(f"{base}/health/live", timeout=TIMEOUT).status_code == 200
        down = authed.get(f"{base}/api/v1/projects", timeout=TIMEOUT)
        assert down.status_code == 503
        assert down.headers["Content-Type"] == "application/problem+json"
        assert down.headers["Retry-After"] == "1"
        assert down.json()["type"].endswith("/service-unavailable")
        committed_before = len(writer.committed)
        time.sleep(0.5)  # the writer keeps trying while the database is gone

        own_postgres.start()
        poll(
            lambda: authed.get(f"{base}/health/ready", timeout=TIMEOUT).status_code == 200,
            RECOVERY_SECONDS,
            "readiness after PostgreSQL restarted",
        )
        # The same gunicorn, its pools renewed: writes commit again.
        poll(lambda: len(writer.committed) >= committed_before + 20, 15, "writes after restart")
    finally:
        writer.halt.set()
        writer.join(timeout=TIMEOUT * 2)

    assert writer.statuses.get(503, 0) > 0, writer.statuses  # the outage was seen
    unexpected = {s: n for s, n in writer.statuses.items() if s not in (201, 503)}
    assert not unexpected, writer.statuses
    conn = own_postgres.server.connect("fns_pg_restart")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM projects WHERE id = ANY(%s)", (writer.committed,))
            stored = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert set(writer.committed) - stored == set()
    # And through the API, from the recovered pool of every worker.
    for project_id in writer.committed[:: max(1, len(writer.committed) // 20)]:
        assert authed.get(f"{base}/api/v1/projects/{project_id}", timeout=TIMEOUT).ok


class Call(threading.Thread):
    """One request in the background; its answer (or the error) once joined."""

    def __init__(self, method: str, url: str, **kwargs: Any) -> None:
        super().__init__(daemon=True)
        self.method, self.url, self.kwargs = method, url, kwargs
        self.response: requests.Response | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.response = authed.request(self.method, self.url, timeout=30, **self.kwargs)
        except requests.RequestException as exc:
            self.error = exc

    def answer(self) -> requests.Response:
        self.join(timeout=30)
        assert self.response is not None, self.error
        return self.response


def backend(conn: Any, database: str, where: str) -> int | None:
    """The pid of the app's one backend on ``database`` matching ``where``, if there is one."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            f"AND {where}",
            (database,),
        )
        rows = cur.fetchall()
    return rows[0][0] if len(rows) == 1 else None


def terminate(conn: Any, pid: int) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))


@contextmanager
def admin(pg: Postgres, database: str) -> Iterator[Any]:
    conn = pg.connect(database)
    try:
        yield conn
    finally:
        conn.close()


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def new_task(base: str) -> str:
    """A task with a tag, uncached yet; its URL."""
    project = authed.post(f"{base}/api/v1/projects", json={"name": uuid.uuid4().hex}, timeout=5)
    assert project.status_code == 201, project.text
    task = authed.post(
        f"{base}/api/v1/tasks",
        json={"project_id": project.json()["id"], "title": "lost", "tags": ["lost"]},
        timeout=5,
    )
    assert task.status_code == 201, task.text
    return base + task.headers["Location"]


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    assert response.json()["type"].endswith("/service-unavailable")


def assert_no_unhandled_error(server: Server) -> None:
    log = server.log()
    assert "unhandled error" not in log, log[-4000:]
    assert "raised outside its error handlers" not in log, log[-4000:]


@pytest.mark.slow
def test_connection_lost_while_a_row_is_read_for_the_answer_is_503(
    pg: Postgres,
    redis_url: str,
    serve: Callable[..., Server],
    migrated_database: Callable[[str], str],
    env_for: Callable[..., dict[str, str]],
    poll: Callable[..., float],
) -> None:
    """The task's tags load while its answer is built (a lazy relationship): the backend is
    terminated right there. Was a 500: pydantic turned the load's OperationalError into a
    ValidationError ("get_attribute_error")."""
    url = migrated_database("fns_pg_lost_read")
    # One worker: what is lost is one request's connection; the read after it then comes to
    # the very pool that lost it.
    server = serve(env_for(url, redis_url, APP_WORKERS="1"))
    task = new_task(server.base)
    with admin(pg, database_name(url)) as locker, admin(pg, database_name(url)) as killer:
        locker.autocommit = False
        with locker.cursor() as cur:  # the tags' load waits on this lock
            cur.execute("LOCK TABLE task_tags IN ACCESS EXCLUSIVE MODE")
        read = Call("GET", task)
        read.start()
        found: list[int] = []

        def waiting_on_the_tags() -> bool:
            pid = backend(killer, database_name(url), "wait_event_type = 'Lock'")
            found.extend([pid] if pid else [])
            return pid is not None

        poll(waiting_on_the_tags, 15, "the read waiting on the tags' lock")
        terminate(killer, found[0])
        locker.rollback()
        assert_unavailable(read.answer())
    again = authed.get(task, timeout=5)  # the pool replaced the connection
    assert again.status_code == 200, again.text
    assert again.json()["tags"] == ["lost"]
    assert_no_unhandled_error(server)


@pytest.mark.slow
def test_connection_lost_after_the_answer_was_made_keeps_the_answer(
    pg: Postgres,
    own_redis: Any,
    serve: Callable[..., Server],
    migrated_database: Callable[[str], str],
    env_for: Callable[..., dict[str, str]],
    poll: Callable[..., float],
) -> None:
    """The backend dies while the finished answer is being cached (Redis paused for writes),
    before the request ends. Was a 500 when a GET ran in a transaction: its rollback at the
    end raised on the dead connection, out of the app (the RSGI bridge's bare "Internal
    error"). A GET runs in autocommit now (server/infra/safe_requests.py): its end sends
    nothing; the rollback of a lost transaction is tests/test_database_down.py's."""
    url = migrated_database("fns_pg_lost_after")
    # Long enough that the cache's write waits out the pause instead of giving up. One
    # worker: what is lost is one request's connection; the read after it then comes to the
    # very pool that lost it.
    server = serve(env_for(url, own_redis.url, APP_REDIS_SOCKET_TIMEOUT="20", APP_WORKERS="1"))
    task = new_task(server.base)
    paused = redis_lib.Redis.from_url(own_redis.url)
    with admin(pg, database_name(url)) as killer:
        paused.client_pause(20000, all=False)
        try:
            read = Call("GET", task)
            read.start()
            found: list[int] = []

            def answer_made() -> bool:
                # Its last read (the task's tags) done, the request holds its connection while
                # it caches the answer. (Idle alone is also the state between two of its
                # reads: terminated there, the answer is rightly a 503.)
                pid = backend(
                    killer, database_name(url), "state = 'idle' AND query LIKE '%%task_tags%%'"
                )
                found.extend([pid] if pid else [])
                return pid is not None

            poll(answer_made, 15, "the read's answer made, its transaction still open")
            terminate(killer, found[0])
            poll(
                lambda: backend(killer, database_name(url), f"pid = {found[0]}") is None,
                15,
                "the backend gone",
            )
        finally:
            paused.client_unpause()
            paused.close()
        answer = read.answer()
    assert answer.status_code == 200, answer.text
    assert answer.json()["tags"] == ["lost"]
    assert authed.get(task, timeout=5).status_code == 200  # the pool replaced the connection
    assert_no_unhandled_error(server)
