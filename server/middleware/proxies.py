"""Trust X-Forwarded-* only from as many proxies as the settings say."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server.config import Settings


def init_app(app: Flask, settings: Settings) -> None:
    hops = {
        "x_for": settings.proxy_fix_x_for,
        "x_proto": settings.proxy_fix_x_proto,
        "x_host": settings.proxy_fix_x_host,
        "x_prefix": settings.proxy_fix_x_prefix,
    }
    # With no trusted proxy the client's own headers must not move the address rate limits key on.
    if any(hops.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_port=0, **hops)  # type: ignore[method-assign]
