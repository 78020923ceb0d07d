"""Run a WSGI app under granian's RSGI interface, each request once its whole body has arrived.

In granian's own WSGI mode a Python thread reads the body from a blocking stream, so a client
that sends its body slowly holds that thread as long as it likes: 20 such clients stalled a
server of 2 workers (bench/servers.py). Under RSGI each request reaches an event loop first;
the loop collects the body (no thread): one declared by Content-Length and within the app's
limit in a single hand-off from granian, a chunked one up to one byte past the limit, so that
the app itself answers 413 with its problem+json; only then does a thread of a small pool run
the WSGI app. granian (Rust) has read the headers before that, so slow headers never reach
Python either. A body has a deadline, as the head has granian's: a client that trickles one
holds a connection, and granian admits only so many at a time (its backpressure), so without
one a few thousand such clients would stall the server for as long as they like.

A WSGI-to-ASGI library (a2wsgi) does the same job, but it streams the body into the thread and
cost 3 to 4 times the throughput in bench/servers.py; this is a single hand-off per request.
RSGI: https://github.com/emmett-framework/granian/blob/master/docs/spec/RSGI.md
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.types import WSGIApplication

logger = logging.getLogger(__name__)

Response = tuple[int, list[tuple[str, str]], bytes]
# The environ key of the reason a request must be refused: set here for what granian lets
# through and HTTP forbids; server/middleware/request_head.py answers it with a 400 problem.
REFUSAL = "fns.refusal"
# The detail of a failure around the app, as the app words its own 500 (server/errors.py).
INTERNAL_ERROR = "The server failed to handle the request."


def _split_address(address: str) -> tuple[str, str]:
    """``host:port`` or ``[v6]:port`` (granian's scope.server and scope.client)."""
    host, _, port = address.rpartition(":")
    return (host.strip("[]"), port) if host else (address, "")


class BrokenBody(io.RawIOBase):
    """``wsgi.input`` of a body granian could not decode (broken chunked framing, or a chunked
    body cut short): reading it raises, so server/middleware/body_limit.py answers 400 as it
    does for gunicorn's parse errors, and the app never sees a partial body as a whole one."""

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer: Any) -> int:
        raise OSError("the request body's chunked framing is malformed or incomplete")


class CutShort:
    """A body that ended before its Content-Length: the client closed its side early, or the
    server cut the connection (stopping). Never handed to the app as a whole body."""

    status = 400

    def __init__(self, received: int | None, declared: int) -> None:
        self.received = received  # None: granian does not say how much came
        self.declared = declared

    @property
    def detail(self) -> str:
        if self.received is None:
            return f"The request body ended before its {self.declared} bytes."
        return f"The request body ended after {self.received} of its {self.declared} bytes."


class TooFragmented:
    """A chunked body in more, smaller chunks than FREE_CHUNKS and MIN_CHUNK allow."""

    status = 400

    def __init__(self, chunks: int, received: int) -> None:
        self.chunks = chunks
        self.received = received

    @property
    def detail(self) -> str:
        return (
            f"The request body came in chunks of {MIN_CHUNK} bytes or fewer on average "
            f"({self.chunks} chunks by byte {self.received}): send larger chunks."
        )


class TooSlow:
    """A body not complete within its deadline (the settings' APP_TIMEOUT)."""

    status = 408

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @property
    def detail(self) -> str:
        return f"The request body did not arrive within {self.seconds:g} seconds."


# granian hands a chunked body to Python one chunk at a time, each through a future of its
# own: about 20 us of a worker's CPU per chunk, however small. A 1 MiB body in 1-byte chunks
# (6 MB on the wire) cost 21 CPU-s, in one request no rate limit could count. Past FREE_CHUNKS,
# the chunks so far must average more than MIN_CHUNK bytes: a body then costs at most
# FREE_CHUNKS + APP_MAX_CONTENT_LENGTH / MIN_CHUNK chunks (about 80 ms for 1 MiB).
FREE_CHUNKS = 64
MIN_CHUNK = 256
# The request bodies a worker holds in memory at once (APP_BODY_MEMORY), each up to
# APP_MAX_CONTENT_LENGTH + 1 bytes. Past them a request with a body waits for one to finish;
# requests without one (and idle connections, which never reach Python) are not held up.
# granian's connection limit bounded them before APP_WORKER_CONNECTIONS took its place.
NO_BODY_SLOT = "The server is reading as many request bodies as it holds: retry."


def build_environ(scope: Any, body: bytes | BrokenBody) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an RSGI request whose body has been read.

    What HTTP forbids and granian lets through is marked for the app to refuse (REFUSAL,
    server/middleware/request_head.py): a header whose value granian could not pass on (it
    leaves out a value with bytes outside visible ASCII, so a request would silently lose its
    If-Match or Host, or keep only some values of a repeated header), and a repeated Host
    (RFC 9112 section 3.2).
    """
    server_name, server_port = _split_address(scope.server)
    remote_addr, remote_port = _split_address(scope.client)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # granian hands the target as text: the path percent-decoded, the query as sent, each
        # decoded as UTF-8 (it refuses a target that is not). PEP 3333 carries their bytes as
        # latin-1; a raw `?q=٣` handed on as text made werkzeug fail to encode it (500).
        "PATH_INFO": _as_wsgi_text(scope.path),
        "QUERY_STRING": _as_wsgi_text(scope.query_string),
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": _PROTOCOLS.get(scope.http_version, "HTTP/1.1"),
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": remote_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": body if isinstance(body, BrokenBody) else io.BytesIO(body),
        # The whole (de-chunked) body is in wsgi.input: werkzeug may read to its end.
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    headers = scope.headers
    firsts: dict[str, str] = {}  # each name's first value that granian could decode
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
        if key in environ:
            if key == "HTTP_HOST":
                environ[REFUSAL] = "The request has more than one Host header."
            # Repeated headers are joined as RFC 9110 allows (what gunicorn does too).
            environ[key] = f"{environ[key]},{value}"
        else:
            firsts[name] = environ[key] = value
    # keys() and len() count every name received, items() only the values granian could
    # decode; headers[name] is a name's first value, "" if it could not. A value it left out
    # after a readable one of the same name leaves no trace (granian 2.8).
    if len(headers) > len(firsts) or any(headers[k] != v for k, v in firsts.items()):
        environ[REFUSAL] = "A header value holds bytes outside visible ASCII."
    authority = scope.authority
    if authority:
        # An absolute-form target (http://host/path) names the host; the Host header does not
        # count then (RFC 9112 section 3.2.2), and APP_TRUSTED_HOSTS applies to the target's.
        environ["HTTP_HOST"] = authority
    return environ


def _as_wsgi_text(text: str) -> str:
    """``text``'s UTF-8 bytes as a PEP 3333 native string (latin-1)."""
    return text.encode("utf-8").decode("latin-1")


# granian's http_version, as PEP 3333 spells SERVER_PROTOCOL ("1" is HTTP/1.0).
_PROTOCOLS = {"1": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2", "3": "HTTP/3"}


def call_wsgi(wsgi_app: WSGIApplication, environ: dict[str, Any]) -> Response:
    """Run the app (in a pool thread); the whole response body at once (the API sends JSON)."""
    started: list[tuple[int, list[tuple[str, str]]]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], None]:
        started[:] = [(int(status[:3]), headers)]
        return _no_write

    chunks = wsgi_app(environ, start_response)
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


def reads_a_body(declared: str | None, chunked: bool, limit: int) -> bool:
    """Whether read_body reads a body (and holds it in memory) for this request. Not one
    declared past the limit (the app answers 413 from Content-Length alone), nor one of no
    length, nor one neither declared nor chunked (no body, RFC 9112 section 6.3). hyper has
    checked a Content-Length (digits only, one value) and drops it for a chunked body."""
    return 0 < int(declared) <= limit if declared is not None else chunked


async def read_body(
    proto: Any, declared: str | None, chunked: bool, limit: int, deadline: float
) -> bytes | BrokenBody | CutShort | TooFragmented | TooSlow | None:
    """The body, or its first limit+1 bytes; None if the connection failed first; a BrokenBody
    if granian could not decode it; CutShort if it ended before its Content-Length;
    TooFragmented if it came in too many small chunks; TooSlow if it took over ``deadline``
    seconds. A request without a body awaits nothing (no timer either)."""
    if not reads_a_body(declared, chunked, limit):
        return b""
    if declared is not None:
        length = int(declared)
        try:
            # Collected by granian (Rust) in one hand-off, however many pieces the bytes
            # came in; reads_a_body has bounded its length.
            async with asyncio.timeout(deadline):
                body: bytes = await proto()
        except TimeoutError:
            return TooSlow(deadline)
        except Exception:  # the connection ended first: the client closed its side, or left
            return CutShort(None, length)
        return body if len(body) == length else CutShort(len(body), length)
    try:
        async with asyncio.timeout(deadline):
            return await read_chunked(proto, limit)
    except TimeoutError:
        return TooSlow(deadline)


async def read_chunked(proto: Any, limit: int) -> bytes | BrokenBody | TooFragmented | None:
    chunks: list[bytes] = []
    size = 0
    empty = 0
    try:
        async for chunk in proto:
            if not chunk:
                # granian (2.8, src/rsgi/io.rs __anext__) ends every body with one empty chunk
                # and turns a decoding error into one more: it raises nothing. (Request trailers
                # look the same, and are refused with the broken bodies.)
                empty += 1
                continue
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
            if len(chunks) > FREE_CHUNKS and len(chunks) * MIN_CHUNK >= size:
                return TooFragmented(len(chunks), size)
    except Exception:  # granian's ProtocolClosed and friends: the client is gone
        return None
    if empty > 1 and size <= limit:
        return BrokenBody()
    return b"".join(chunks)


class WSGIBridge:
    """An RSGI application that runs ``wsgi_app`` in ``threads`` threads, each request once its
    body (at most ``max_body`` + 1 bytes) has arrived, within ``body_deadline`` seconds; with
    the bodies it holds at once within ``body_memory`` bytes."""

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        threads: int,
        max_body: int,
        body_deadline: float,
        body_memory: int,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.max_body = max_body
        self.body_deadline = body_deadline
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="wsgi")
        self.bodies = asyncio.Semaphore(max(1, body_memory // (max_body + 1)))

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        fields = scope.headers
        declared = fields.get("content-length")
        chunked = "transfer-encoding" in fields
        if not reads_a_body(declared, chunked, self.max_body):
            await self.answer(scope, proto, declared, chunked)
            return
        try:
            async with asyncio.timeout(self.body_deadline):
                await self.bodies.acquire()
        except TimeoutError:
            # Every slot held (by clients trickling their bodies, say) for as long as a body
            # may take: refused without reading it, as a retry may find one free.
            status, headers, payload = self.problem(503, NO_BODY_SLOT)
            extra = [("Retry-After", "1"), ("Connection", "close")]
            proto.response_bytes(status, [*headers, *extra], payload)
            return
        try:
            await self.answer(scope, proto, declared, chunked)
        finally:
            self.bodies.release()

    async def answer(self, scope: Any, proto: Any, declared: str | None, chunked: bool) -> None:
        body = await read_body(proto, declared, chunked, self.max_body, self.body_deadline)
        if body is None:
            return
        if isinstance(body, (CutShort, TooFragmented, TooSlow)):
            # Answered here, without the app, and the connection closed (the rest of the body
            # is not read). A cut-short body left unanswered made granian send its own 500 to
            # a client that had only closed its side and was still listening.
            status, headers, payload = self.problem(body.status, body.detail)
            proto.response_bytes(status, [*headers, ("Connection", "close")], payload)
            return
        environ = build_environ(scope, body)
        loop = asyncio.get_running_loop()
        try:
            status, headers, payload = await loop.run_in_executor(
                self.pool, call_wsgi, self.wsgi_app, environ
            )
        except Exception:
            # Flask turns the app's errors into responses: this is a failure around it.
            logger.exception("the WSGI app raised outside its error handlers")
            status, headers, payload = self.problem(500, INTERNAL_ERROR)
        proto.response_bytes(status, headers, payload)

    def problem(self, status: int, detail: str) -> Response:
        """The bridge's own answer, without the app (server/rsgi.py gives it the app's shape)."""
        return status, [("Content-Type", "text/plain; charset=utf-8")], detail.encode()
