"""Our gunicorn sync worker (server/gunicorn_workers.py) when SIGTERM closes its listener from
another thread, at the instants a whole server cannot aim at: the worker class itself, in this
process, on real sockets."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.sock import TCPSocket
from gunicorn.workers.sync import StopWaiting

from server.gunicorn_workers import SyncWorker, stop_listening
from server.logs import ClientTextFilter


class SignalAfterAccept:
    """A listener on which SIGTERM's thread (stop_listening) runs just after each accept, before
    the worker has read anything of the connection."""

    def __init__(self, listener: TCPSocket) -> None:
        self.listener = listener
        self.worker: SyncWorker | None = None

    def accept(self) -> tuple[socket.socket, Any]:
        accepted = self.listener.accept()
        assert self.worker is not None
        stop_listening(self.worker)
        return accepted  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.listener, name)


def hello(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def worker_on() -> Iterator[Any]:
    """A function making our sync worker on a listener (wrapped or not), as gunicorn's master
    makes it, then what its process sets up before the loop: the wake-up pipe, the app, what
    select() waits on."""
    made: list[SyncWorker] = []
    cfg = Config()

    def make(wrap: Any = None) -> tuple[SyncWorker, TCPSocket]:
        log = Logger(cfg)
        # gunicorn has no type hints; pyright would take its defaults' types for them.
        listener = TCPSocket(("127.0.0.1", 0), cfg, log)  # pyright: ignore[reportArgumentType]
        listening = wrap(listener) if wrap else listener
        worker: Any = SyncWorker(1, os.getppid(), [listening], None, 30, cfg, log)
        worker.PIPE = os.pipe()
        worker.wsgi = hello
        worker.wait_fds = [*worker.sockets, worker.PIPE[0]]
        made.append(worker)
        return worker, listening

    yield make
    for worker in made:
        worker.tmp.close()
        for fd in worker.PIPE:
            os.close(fd)
        for listener in worker.sockets:
            listener.close()


def test_a_connection_accepted_as_sigterm_lands_is_answered(worker_on: Any) -> None:
    """The stop closes the listener just after the accept: that client got gunicorn's 500 (the
    worker read the closed listener's name for the request), seen in a rolling restart under
    load."""
    worker, listening = worker_on(SignalAfterAccept)
    listening.worker = worker
    with socket.create_connection(listening.getsockname(), timeout=10) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
        worker.run_for_one(1.0)  # accepts, serves, then ends: the stop came
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b"hello")
    assert not worker.alive


def test_a_stopped_worker_waiting_on_its_closed_listener_ends_its_loop(worker_on: Any) -> None:
    """SIGTERM between the loop's look at ``alive`` and its select(): the select on the closed
    listener ends the loop (StopWaiting, which gunicorn's loop returns on), not the worker with
    a traceback."""
    worker, _ = worker_on()
    stop_listening(worker)
    with pytest.raises(StopWaiting):
        worker.wait(0.5)
    worker.accept(worker.sockets[0])  # and an accept on it is nothing to do


def test_a_running_worker_still_raises_what_it_cannot_handle(worker_on: Any) -> None:
    """Only a stopping worker takes a closed listener quietly."""
    worker, listener = worker_on()
    listener.close()
    with pytest.raises((TypeError, ValueError, OSError)):
        worker.wait(0.5)


def test_a_request_gunicorn_fails_is_logged_without_its_credentials(worker_on: Any) -> None:
    """What the app lets escape (a worker timeout's SystemExit, a bug) gunicorn logs with the
    target as sent: an absolute-form target's userinfo, a password, and a secret-named query
    parameter went into the error log. The filter server/logs.py puts on gunicorn's error
    logger (test_hostile_http checks that the running server has it) shows the line without
    them."""

    def failing(_environ: dict[str, Any], _start_response: Any) -> list[bytes]:
        raise RuntimeError("escaped the app")

    worker, listener = worker_on()
    worker.wsgi = failing
    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append  # type: ignore[method-assign,assignment]
    logger = logging.getLogger("gunicorn.error")
    client_text = ClientTextFilter()
    logger.addFilter(client_text)
    # In place of gunicorn's default handler, whose "[%(process)d]" fails once an app made
    # earlier in this process turned off logging's process field (server/logs.py).
    handlers, logger.handlers = logger.handlers, [capture]
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as client:
            client.sendall(
                b"GET http://alice:s3cret-pass@api.test/api/v1/projects?limit=5&token=t0ken"
                b" HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n"
            )
            accepted, address = listener.accept()
            worker.handle(listener, accepted, address)
            answer = client.recv(4096)
    finally:
        logger.handlers = handlers
        logger.removeFilter(client_text)
    assert answer.startswith(b"HTTP/1.1 500 ")
    logged = "\n".join(record.getMessage() for record in records)
    assert "Error handling request" in logged  # gunicorn 27 adds the method, 23 does not
    assert "/api/v1/projects?limit=5" in logged  # still says which request failed
    for secret in ("s3cret-pass", "alice", "t0ken"):
        assert secret not in logged
