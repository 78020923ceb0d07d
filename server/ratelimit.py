"""Rate limits per client address, counted in Redis so every worker and host shares them."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from server.config import Settings
from server.redis_client import get_redis


def init_app(app: Flask, settings: Settings, exempt: tuple[Blueprint, ...] = ()) -> Limiter:
    """A Limiter per app (Flask-Limiter keeps its state on the instance) on the shared pool."""
    app.config.update(
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX=f"{settings.key_prefix}:limit",
        # Fail open: a Redis outage must not take the API down with it (the default).
        RATELIMIT_SWALLOW_ERRORS=settings.ratelimit_fail_open,
    )
    limiter = Limiter(
        key_func=get_remote_address,
        default_limits=[settings.ratelimit_default],
        storage_uri="redis://",
        storage_options={"connection_pool": get_redis(app).connection_pool},
        strategy="fixed-window",
    )
    for blueprint in exempt:
        limiter.exempt(blueprint)
    limiter.init_app(app)
    return limiter
