"""Accept or create a request id, echo it, and expose it to every log line of the request."""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from contextvars import ContextVar

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
ENVIRON_KEY = "HTTP_X_REQUEST_ID"
# Only characters that cannot forge a log line or a header: anything else is replaced.
VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

current_request_id: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record: the current request's, or "-" outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id == "-" and record.name == "gunicorn.access":
            # gunicorn logs the access line after the request: take the id from the response.
            with contextlib.suppress(Exception):
                request_id = str(record.args["{x-request-id}o"])  # type: ignore[index,call-overload]
        record.request_id = request_id
        return True


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign() -> None:
        given = request.environ.get(ENVIRON_KEY, "")  # request.headers' value, without its object
        # 128 random bits as 32 hex digits, as uuid4().hex was, without building a UUID.
        g.request_id = given if VALID.match(given) else secrets.token_hex(16)
        current_request_id.set(g.request_id)

    @app.after_request
    def _echo(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[HEADER] = request_id
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        current_request_id.set("-")
