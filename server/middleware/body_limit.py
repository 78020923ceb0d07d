"""Every request body is read whole before the app runs, and refused unless it is all there.

- Over MAX_CONTENT_LENGTH: 413, whatever the framing. With a Content-Length werkzeug would refuse
  it only once a view reads the body; a chunked one (no length) it would cut at the limit, and
  the app would have parsed the first MAX_CONTENT_LENGTH bytes of a longer body as all of it.
- Cut short: 400. A body that ends before its Content-Length (the client closed its side early)
  reached the app as if whole under gunicorn (its input stream just ends), and a view ran on
  it; broken chunked framing raises the server's own parse errors.
A body that passes is handed on in memory, with its length known.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from server.errors import Problem
from server.wsgi_bridge import CutShort

BROKEN_FRAMING = "The request body's chunked framing is malformed or incomplete."


def buffer_body() -> None:
    environ = request.environ
    if "CONTENT_LENGTH" not in environ and "HTTP_TRANSFER_ENCODING" not in environ:
        return  # no body: most requests
    length = request.content_length  # None with Transfer-Encoding: chunked
    if length is not None:
        _buffer_declared(environ, length)
    # A body without a length comes only with Transfer-Encoding (HTTP/1.1); and only a server
    # that ends the stream itself (gunicorn, werkzeug's: wsgi.input_terminated) may be read
    # without one, werkzeug gives the app an empty body otherwise.
    elif "HTTP_TRANSFER_ENCODING" in environ and environ.get("wsgi.input_terminated"):
        _buffer_unframed(environ)


def _buffer_declared(environ: dict[str, Any], length: int) -> None:
    if not length:
        return
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    if length > limit:
        raise RequestEntityTooLarge()  # werkzeug's own answer, as before the body was read
    body = _read(environ, length)
    if len(body) < length:
        raise Problem(400, CutShort(len(body), length).detail)
    environ["wsgi.input"] = io.BytesIO(body)


def _buffer_unframed(environ: dict[str, Any]) -> None:
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    body = _read(environ, limit + 1)
    if len(body) > limit:
        raise Problem(413, f"The body is larger than {limit} bytes.")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def _read(environ: dict[str, Any], size: int) -> bytes:
    """Up to ``size`` bytes of the body: fewer only where it ends first."""
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    wanted = size
    try:
        while wanted > 0 and (part := stream.read(wanted)):
            parts.append(part)
            wanted -= len(part)
    except Exception as error:
        # The server's input stream raises its own parse errors for broken chunked framing
        # (gunicorn: InvalidChunkSize, ChunkMissingTerminator, NoMoreData; the RSGI bridge:
        # BrokenBody), no common type.
        raise Problem(400, BROKEN_FRAMING) from error
    return b"".join(parts)


def init_app(app: Flask) -> None:
    app.before_request(buffer_body)
