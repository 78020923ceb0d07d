"""The host a request names, in the one spelling APP_TRUSTED_HOSTS is written in.

A host name is case-insensitive (RFC 3986 section 3.2.2), and a trailing dot names the same
host from the DNS root. werkzeug compares the name with APP_TRUSTED_HOSTS as written (3.2, as
3.1): ``Host: LocalHost`` or ``api.example.com.`` got 400 where ``localhost`` was trusted.
Inside ProxyFix, so the host a trusted proxy forwards (X-Forwarded-Host, which nginx
canonicalises and other proxies pass on as sent) is read the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication

from flask import Flask


def canonical(host: str) -> str:
    """``host`` (a Host value: a name or IP literal, then an optional port) in lower case,
    without the trailing dot of a name."""
    host = host.lower()
    if host.startswith("["):  # an IPv6 literal: no dot to drop
        return host
    name, colon, port = host.partition(":")
    if name.endswith(".") and name != ".":
        return f"{name[:-1]}{colon}{port}"
    return host


class CanonicalHost:
    """WSGI middleware: HTTP_HOST in its canonical spelling."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host:
            environ["HTTP_HOST"] = canonical(host)
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    """Call before ProxyFix wraps the app (server/middleware/proxies.py), to run inside it."""
    app.wsgi_app = CanonicalHost(app.wsgi_app)  # type: ignore[method-assign]
