"""Security headers for a JSON API, on every response including errors."""

from __future__ import annotations

from flask import Flask, Response

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


def init_app(app: Flask, *, hsts: bool) -> None:
    headers = dict(API_HEADERS)
    if hsts:
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def _secure(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
