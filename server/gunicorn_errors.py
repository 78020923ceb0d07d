"""gunicorn's own error answers as problem+json with the security headers.

A request gunicorn cannot hand to the app (a request line or headers over its limits, a
malformed request line or header) is answered by gunicorn itself, as an HTML page without the
app's headers. The worker writes that answer through ``gunicorn.util.write_error``; this puts
the app's error shape in its place, so every answer a client sees is the same kind.
"""

from __future__ import annotations

import socket
from http import HTTPStatus

from gunicorn import util

from server.server_problems import problem_document


def problem_writer(*, hsts: bool) -> object:
    def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
        # gunicorn's message may quote the request back: the detail stays generic.
        headers, body = problem_document(status_int, hsts=hsts)
        head = [
            f"HTTP/1.1 {status_int} {HTTPStatus(status_int).phrase}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers),
        ]
        util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    return write_problem


def install(*, hsts: bool) -> None:
    util.write_error = problem_writer(hsts=hsts)
