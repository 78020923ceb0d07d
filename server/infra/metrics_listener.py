"""The metrics listener: prometheus_client's WSGI app on a threaded server whose connections are
bounded in number and in time.

prometheus_client's ``start_http_server`` gives every connection a thread of its own and no
timeout: 800 idle connections to APP_METRICS_BIND held 800 threads and 800 file descriptors in
the server's master, for as long as the client liked (measured under granian and gunicorn).
Those count against the master's limits (systemd's TasksMax, a pod's pids limit, nofile), and
the master is what starts workers. Here at most ``max_connections`` are served at once, a
connection beyond them is closed at once, and each one is cut after ``deadline`` seconds
whatever it sends (a trickling client included). A scrape takes milliseconds; Prometheus'
own scrape timeout is 10 s.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import WSGIApplication

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 8
DEADLINE_S = 10.0


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (prometheus_client's own handler is silent too)."""


def _cut(connection: socket.socket) -> None:
    """End a connection past its deadline: a read blocked on it returns end-of-file."""
    with contextlib.suppress(OSError):  # already closed by its handler
        connection.shutdown(socket.SHUT_RDWR)


class BoundedWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        app: WSGIApplication,
        *,
        max_connections: int = MAX_CONNECTIONS,
        deadline: float = DEADLINE_S,
    ) -> None:
        host, port = address
        self.address_family, _, _, _, _ = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._slots = threading.BoundedSemaphore(max_connections)
        self._deadline = deadline
        super().__init__(address, _QuietHandler)
        self.set_app(app)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # every slot taken: closed, not queued
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: nothing else releases the slot
            self._slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that times out, is cut or goes away is no error of the server's; anything
        else is logged once, through logging (socketserver would print to stderr)."""
        if not isinstance(sys.exc_info()[1], OSError):
            log.exception("metrics listener: a scrape failed")

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        timer = threading.Timer(self._deadline, _cut, (request,))
        timer.daemon = True
        timer.start()
        try:
            request.settimeout(self._deadline)
            super().process_request_thread(request, client_address)
        finally:
            timer.cancel()
            self._slots.release()


def serve(
    host: str,
    port: int,
    app: WSGIApplication,
    *,
    max_connections: int = MAX_CONNECTIONS,
    deadline: float = DEADLINE_S,
) -> BoundedWSGIServer:
    """``app`` served on host:port from a daemon thread; stop it with ``shutdown()`` and
    ``server_close()``."""
    server = BoundedWSGIServer(
        (host, port), app, max_connections=max_connections, deadline=deadline
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
