"""gunicorn's sync worker, answering a client too slow to send its request head with 408.

A sync worker waits for the head of the request it has accepted with no deadline of its own;
past APP_TIMEOUT its master kills it (SIGABRT), and gunicorn then answered that client 500 and
logged "WORKER TIMEOUT" and an error with a traceback, as for a crash: a client that merely
connected and sent nothing did so. The worker is still replaced (the master's decision); the
client now hears 408 and the log says what happened in one line. A worker killed while the app
handles a request is the server's failure, answered and logged by gunicorn as before.

A request line over gunicorn's limit is answered 414, as RFC 9112 section 3 requires: gunicorn
before 24 (nixpkgs ships 23) answered it 400.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gunicorn import util
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker


class SyncWorker(GunicornSyncWorker):  # type: ignore[misc]  # gunicorn has no type hints
    timed_out = False

    def handle_abort(self, sig: int, frame: Any) -> None:
        self.timed_out = True  # the master's SIGABRT: this worker outlived APP_TIMEOUT
        super().handle_abort(sig, frame)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if req is None and self.timed_out:
            self.log.warning(
                "No request head from ip=%s within the worker timeout (%ss)",
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
