"""The body size limit, whatever the framing: a chunked body is read up to the limit plus one.

With a Content-Length, werkzeug refuses an over-size body before reading it (413). Without one
(Transfer-Encoding: chunked) it only stops reading at the limit, so the app would parse the first
MAX_CONTENT_LENGTH bytes of a longer body as if they were all of it. Here such a body is read
once, refused if longer than the limit, and otherwise handed on with its length known.
"""

from __future__ import annotations

import io

from flask import Flask, current_app, request

from server.errors import Problem


def buffer_unframed_body() -> None:
    environ = request.environ
    # A body without a length comes only with Transfer-Encoding (HTTP/1.1); and only a server
    # that ends the stream itself (gunicorn, werkzeug's: wsgi.input_terminated) may be read
    # without one, werkzeug gives the app an empty body otherwise.
    if (
        "HTTP_TRANSFER_ENCODING" not in environ
        or request.content_length is not None
        or not environ.get("wsgi.input_terminated")
    ):
        return
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        body = environ["wsgi.input"].read(limit + 1)
    except Exception as error:
        # The server's input stream raises its own parse errors for broken chunked framing
        # (gunicorn: InvalidChunkSize, ChunkMissingTerminator, NoMoreData), no common type.
        raise Problem(
            400, "The request body's chunked framing is malformed or incomplete."
        ) from error
    if len(body) > limit:
        raise Problem(413, f"The body is larger than {limit} bytes.")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def init_app(app: Flask) -> None:
    app.before_request(buffer_unframed_body)
