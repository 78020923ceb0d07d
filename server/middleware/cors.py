"""CORS for the API, from an explicit allow-list (Flask-Cors)."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from server.config import Settings
from server.config.origins import allowed_origins

EXPOSED = [
    "ETag",
    "X-Request-ID",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Location",
]


def init_app(app: Flask, settings: Settings) -> None:
    if not settings.cors_origins:
        return
    CORS(
        app,
        resources={r"/api/*": {"origins": allowed_origins(settings)}},
        supports_credentials=settings.cors_allow_credentials,
        expose_headers=EXPOSED,
        allow_headers=["Content-Type", "If-Match", "X-Request-ID", "Authorization"],
        max_age=600,
    )
