"""gunicorn's own error answers as problem+json with the security headers.

A request gunicorn cannot hand to the app (a request line or headers over its limits, a
malformed request line or header) is answered by gunicorn itself, as an HTML page without the
app's headers. The worker writes that answer through ``gunicorn.util.write_error``; this puts
the app's error shape in its place, so every answer a client sees is the same kind.
"""

from __future__ import annotations

import json
import socket
from http import HTTPStatus

from gunicorn import util

from server.errors import PROBLEM_MEDIA_TYPE, STATUS_SLUGS, TYPE_BASE
from server.middleware.security_headers import API_HEADERS, HSTS


def problem_writer(*, hsts: bool) -> object:
    headers = {**API_HEADERS, **({"Strict-Transport-Security": HSTS} if hsts else {})}

    def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
        # gunicorn's message may quote the request back: the detail stays generic.
        status = HTTPStatus(status_int)
        body = json.dumps(
            {
                "type": TYPE_BASE + STATUS_SLUGS.get(status_int, "bad-request"),
                "title": status.phrase,
                "status": status_int,
                "detail": f"{status.description}.",
            }
        ).encode()
        head = [
            f"HTTP/1.1 {status_int} {status.phrase}",
            "Connection: close",
            f"Content-Type: {PROBLEM_MEDIA_TYPE}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    return write_problem


def install(*, hsts: bool) -> None:
    util.write_error = problem_writer(hsts=hsts)
