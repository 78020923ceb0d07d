"""gunicorn's sync worker, answering a client too slow to send its request with 408.

A sync worker reads the request head, and then the body (server/middleware/body_limit.py reads
it whole before the app runs), with no deadline of its own; past APP_TIMEOUT its master kills
it (SIGABRT), and gunicorn then answered that client 500 and logged "WORKER TIMEOUT" and an
error with a traceback, as for a crash: a client that merely connected and sent nothing, or
sent half a body, did so. The worker is still replaced (the master's decision); the client now
hears 408 and the log says what happened in one line. A worker killed while the app handles a
request is the server's failure, answered and logged by gunicorn as before.

A request line over gunicorn's limit is answered 414, as RFC 9112 section 3 requires: gunicorn
before 24 (nixpkgs ships 23) answered it 400.

On SIGTERM a thread closes the worker's listeners while its main thread may be between
accepting a connection and reading the listener's name for the request (stop_listening): that
client got gunicorn's 500, seen once a dozen rolling restarts under load. The names are taken
when the worker is made, and a listener closed under a stopping worker ends its loop quietly.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from gunicorn import util
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.sync import StopWaiting
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker


def stop_listening(worker: Any) -> None:
    """What gunicorn's SIGTERM handler does (the worker ends after its request), and close the
    worker's copies of the listeners now, from whichever thread takes the signal
    (server/gunicorn_conf.py's post_worker_init): once the master has closed its own, the
    kernel refuses new clients at once instead of queueing them for nobody."""
    worker.alive = False
    for listener in worker.sockets:
        with contextlib.suppress(OSError):
            listener.close()
    with contextlib.suppress(OSError):
        os.write(worker.PIPE[1], b".")  # wakes the main thread's select()


class NamedListener:
    """A listener whose name was read before it could be closed: gunicorn reads it for each
    request (SERVER_NAME, SERVER_PORT), after the accept."""

    def __init__(self, listener: Any, name: Any) -> None:
        self.listener = listener
        self.name = name

    def getsockname(self) -> Any:
        return self.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.listener, name)


class WatchedBody:
    """gunicorn's request body, telling its worker while a read waits on the client."""

    def __init__(self, body: Any, worker: SyncWorker) -> None:
        self.body = body
        self.worker = worker

    def _reading(self, method: str, *args: Any) -> Any:
        self.worker.reading_body = True
        result = getattr(self.body, method)(*args)
        # Not in a finally: the master's SIGABRT raises inside the read, and handle_error must
        # still see that the worker was waiting for the client.
        self.worker.reading_body = False
        return result

    def read(self, size: int | None = None) -> bytes:
        return self._reading("read", size)  # type: ignore[no-any-return]

    def readline(self, size: int | None = None) -> bytes:
        return self._reading("readline", size)  # type: ignore[no-any-return]

    def readlines(self, size: int | None = None) -> list[bytes]:
        return self._reading("readlines", size)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.body, name)

    def __iter__(self) -> WatchedBody:
        return self

    def __next__(self) -> bytes:
        return self._reading("__next__")  # type: ignore[no-any-return]


class SyncWorker(GunicornSyncWorker):  # type: ignore[misc]  # gunicorn has no type hints
    timed_out = False
    reading_body = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listener_names = {id(listener): listener.getsockname() for listener in self.sockets}

    def accept(self, listener: Any) -> None:
        try:
            super().accept(listener)
        except (AttributeError, OSError):  # gunicorn's closed listener has no socket left
            if self.alive:
                raise

    def wait(self, timeout: float) -> Any:
        try:
            # typeshed's stub says int; gunicorn's loop passes half its float timeout.
            return super().wait(timeout)  # pyright: ignore[reportArgumentType]
        except (TypeError, ValueError, OSError):  # select() on a closed listener
            if self.alive:
                raise
            raise StopWaiting from None

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        # Not a socket: gunicorn's handle() only passes it on, and reads its name once.
        named: Any = NamedListener(listener, self.listener_names[id(listener)])
        super().handle(named, client, addr)

    def handle_abort(self, sig: int, frame: Any) -> None:
        self.timed_out = True  # the master's SIGABRT: this worker outlived APP_TIMEOUT
        super().handle_abort(sig, frame)

    def handle_request(self, listener: Any, req: Any, client: Any, addr: Any) -> Any:
        req.body = WatchedBody(req.body, self)  # wsgi.input (gunicorn.http.wsgi.create)
        return super().handle_request(listener, req, client, addr)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if self.timed_out and (req is None or self.reading_body):
            self.log.warning(
                "%s from ip=%s within the worker timeout (%ss)",
                "No request head" if req is None else "Request body not complete",
                (addr or ("",))[0],
                self.cfg.timeout,
            )
            with contextlib.suppress(Exception):  # the client may be gone
                util.write_error(client, 408, "Request Timeout", "")
            return
        if isinstance(exc, LimitRequestLine):
            self.log.debug("Invalid request from ip=%s: request line too long", (addr or ("",))[0])
            with contextlib.suppress(Exception):
                util.write_error(client, 414, "URI Too Long", "")
            return
        super().handle_error(req, client, addr, exc)
