"""The problem document a server sends by itself, without the app: the same shape and security
headers as the app's answers. Used for gunicorn's own error answers (server/gunicorn_errors.py)
and the RSGI bridge's (server/wsgi_bridge.py)."""

from __future__ import annotations

import json
from http import HTTPStatus

from server.errors import PROBLEM_MEDIA_TYPE, STATUS_SLUGS, TYPE_BASE
from server.middleware.security_headers import API_HEADERS, HSTS

# Statuses only a server answers by itself (the app never does): the slugs the NixOS module's
# nginx front gives them too (nix/module.nix). Any other status not in STATUS_SLUGS is a
# bad request.
SERVER_SLUGS = {
    **STATUS_SLUGS,
    408: "request-timeout",
    505: "http-version-not-supported",
}


def problem_document(
    status: int, *, hsts: bool, detail: str | None = None
) -> tuple[list[tuple[str, str]], bytes]:
    """Headers (content type, length, security headers) and body of a problem for ``status``;
    the detail is generic unless given (a server's own message may quote the request back)."""
    known = HTTPStatus(status)
    body = json.dumps(
        {
            "type": TYPE_BASE + SERVER_SLUGS.get(status, "bad-request"),
            "title": known.phrase,
            "status": status,
            "detail": detail or f"{known.description}.",
        }
    ).encode()
    headers = [
        ("Content-Type", PROBLEM_MEDIA_TYPE),
        ("Content-Length", str(len(body))),
        *API_HEADERS.items(),
        *([("Strict-Transport-Security", HSTS)] if hsts else []),
    ]
    return headers, body
