"""The host and scheme a request names, each in one spelling.

A host name is case-insensitive (RFC 3986 section 3.2.2), and a trailing dot names the same
host from the DNS root. werkzeug compares the name with APP_TRUSTED_HOSTS as written (3.2, as
3.1): ``Host: LocalHost`` or ``api.example.com.`` got 400 where ``localhost`` was trusted.
Inside ProxyFix, so the host a trusted proxy forwards (X-Forwarded-Host, which nginx
canonicalises and other proxies pass on as sent) is read the same way.

A scheme is case-insensitive too (RFC 3986 section 3.1), and a proxy may forward
``X-Forwarded-Proto: HTTPS``: ProxyFix takes it as written, and werkzeug then counted the
request as not secure (``request.is_secure`` compares with "https").
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
    """WSGI middleware: HTTP_HOST and the URL scheme in their canonical spellings."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host:
            environ["HTTP_HOST"] = canonical(host)
        scheme = environ.get("wsgi.url_scheme")
        if scheme and not scheme.islower():
            environ["wsgi.url_scheme"] = scheme.lower()
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    """Call before ProxyFix wraps the app (server/middleware/proxies.py), to run inside it."""
    app.wsgi_app = CanonicalHost(app.wsgi_app)  # type: ignore[method-assign]
