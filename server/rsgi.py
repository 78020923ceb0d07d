"""granian's entry point: the WSGI app, called only once the request's whole body has arrived.

In granian's own WSGI mode a Python thread reads the body from a blocking stream, so a client
that sends its body slowly holds that thread as long as it likes: 20 such clients stalled a
server of 2 workers (bench/slow_clients.py). Here granian's RSGI interface hands each request
to an event loop; the loop collects the body (no thread, no timeout needed), up to one byte
past the app's MAX_CONTENT_LENGTH, so that the app itself answers 413 with its problem+json;
only then does a thread of a small pool run the WSGI app. Headers were read by granian (Rust)
before that, so slow headers never reach Python either.

An adapter from a WSGI-to-ASGI library (a2wsgi) does the same job but streams the body into the
thread, and cost 3 to 4 times the throughput in bench/servers.py; this one is a single hand-off.
RSGI: https://github.com/emmett-framework/granian/blob/master/docs/spec/RSGI.md
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_held_signals: list[int] = []
# After the worker's server loop has started: a stop raised earlier is not seen (granian 2.5).
_REDELIVERY_DELAY = 0.2


def _hold_stop_signals() -> None:
    """In a granian worker, keep a stop signal that arrives while the app is imported.

    granian installs a worker's own handlers only after importing this module (about a second
    with the app); until then a SIGTERM runs the handler inherited from the main process, which
    sets a flag in the worker's copy of it: lost, and a stop during start-up (or right after a
    reload) waited out the whole kill timeout. Held here, it is raised again once the worker
    serves (App.__rsgi_init__). The few instructions between the fork and this import stay
    exposed, as in gunicorn (server/gunicorn_conf.py post_fork).
    """
    if multiprocessing.current_process().name != "granian-worker":
        return
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, lambda signum, _frame: _held_signals.append(signum))


_hold_stop_signals()

from server.wsgi import app as wsgi_app  # noqa: E402  (slow: after the signals are held)

logger = logging.getLogger(__name__)

_settings = wsgi_app.extensions["settings"]
_limit: int = _settings.max_content_length
_threads = ThreadPoolExecutor(_settings.threads, thread_name_prefix="wsgi")

Response = tuple[int, list[tuple[str, str]], bytes]


def _split_address(address: str) -> tuple[str, str]:
    """``host:port`` or ``[v6]:port`` (granian's scope.server and scope.client)."""
    host, _, port = address.rpartition(":")
    return (host.strip("[]"), port) if host else (address, "")


def build_environ(scope: Any, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an RSGI request whose body has been read."""
    server_name, server_port = _split_address(scope.server)
    remote_addr, remote_port = _split_address(scope.client)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # granian has percent-decoded the path (as UTF-8, invalid bytes become U+FFFD);
        # PEP 3333 carries its bytes as latin-1.
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": remote_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        # The whole (de-chunked) body is in wsgi.input: werkzeug may read to its end.
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
        # Repeated headers are joined as RFC 9110 allows (what gunicorn does too).
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_wsgi(environ: dict[str, Any]) -> Response:
    """Run the app in a pool thread; the whole response body at once (the API returns JSON)."""
    started: list[tuple[int, list[tuple[str, str]]]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], None]:
        started[:] = [(int(status[:3]), headers)]
        return _no_write

    chunks: Iterable[bytes] = wsgi_app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    status, headers = started[0]
    return status, headers, body


def _no_write(_data: bytes) -> None:
    raise NotImplementedError("the app must return its body, not write() it")


async def read_body(proto: Any, declared: str | None) -> bytes | None:
    """The body, or its first limit+1 bytes; None if the client went away first."""
    length = int(declared) if declared is not None and declared.isdigit() else None
    if length is not None and length > _limit:
        return b""  # the app answers 413 from Content-Length alone: read nothing
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in proto:
            chunks.append(chunk)
            size += len(chunk)
            if size > _limit:
                break
    except Exception:  # granian's ProtocolClosed and friends: the client is gone
        return None
    if length is not None and size < length:
        return None  # the stream ended early: the client left mid-body, nothing to run
    return b"".join(chunks)


class App:
    """The RSGI application object granian loads (``server.rsgi:app``)."""

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Called once granian's handlers are set, before it serves: redeliver held stops.
        for signum in _held_signals:
            loop.call_later(_REDELIVERY_DELAY, os.kill, os.getpid(), signum)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        body = await read_body(proto, scope.headers.get("content-length"))
        if body is None:
            return
        environ = build_environ(scope, body)
        loop = asyncio.get_running_loop()
        try:
            status, headers, payload = await loop.run_in_executor(_threads, call_wsgi, environ)
        except Exception:
            # Flask turns the app's errors into responses: this is a failure around it.
            logger.exception("the WSGI app raised outside its error handlers")
            status, headers, payload = 500, [("content-type", "text/plain")], b"Internal error"
        proto.response_bytes(status, headers, payload)


app = App()
