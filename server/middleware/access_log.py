"""One log line per request, from the app: granian's own access log cannot show response headers,
so it could not carry the request id. On when APP_ACCESS_LOG is set (``flask-nix-stack serve``
sets it for granian; gunicorn writes its own access log)."""

from __future__ import annotations

import logging
import time

from flask import Flask, Request, Response, g

from server.infra.current_request import current_request
from server.logs import ACCESS_LOGGER
from server.redaction import redacted_target

logger = logging.getLogger(ACCESS_LOGGER)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.access_log_start = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        started = g.get("access_log_start")
        elapsed_ms = 0.0 if started is None else (time.perf_counter() - started) * 1000
        this = current_request()
        # The same fields as gunicorn's line (server/gunicorn_conf.py); the request id comes
        # from the log filter, as on every other line of the request.
        logger.info(
            '%s "%s %s" %s %s %.0fms',
            this.remote_addr or "-",
            this.method,
            redacted_target(_target(this)),
            response.status_code,
            response.calculate_content_length() or "-",
            elapsed_ms,
        )
        return response


def _target(this: Request) -> str:
    """The path and query as logged. werkzeug's ``full_path`` decodes the query strictly, and
    the bytes are the client's: one that is not UTF-8 made the request's log line a 500."""
    if not this.query_string:
        return this.path
    return f"{this.path}?{this.query_string.decode('utf-8', 'backslashreplace')}"
