"""Security headers for a JSON API, on every response including errors.

Added at the WSGI layer, to the plain header list gunicorn receives: cheaper than Flask's
header object on the hot path, and it also covers answers made outside Flask's hooks. A header
the app set itself (e.g. a docs page's own CSP) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication

from flask import Flask

API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A JSON API loads nothing and is framed by nobody.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HSTS = "max-age=63072000; includeSubDomains"


class SecurityHeaders:
    """WSGI middleware appending each header the response does not already have."""

    def __init__(self, app: WSGIApplication, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = list(headers.items())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def secure_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.extend(h for h in self.headers if h[0].lower() not in present)
            return start_response(status, headers, exc_info)

        return self.app(environ, secure_start_response)


def init_app(app: Flask, *, hsts: bool) -> None:
    headers = dict(API_HEADERS)
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    app.wsgi_app = SecurityHeaders(app.wsgi_app, headers)  # type: ignore[method-assign]
