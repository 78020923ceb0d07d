"""Rate limits per client address, counted in Redis so every worker and host shares them."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint, Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from server.config import Settings
from server.infra.redis_client import get_redis


class BlueprintExemptLimiter(Limiter):
    """Skips whole blueprints before any limit is resolved.

    Flask-Limiter's own exemptions are resolved per request, which costs health probes more than
    the probe itself; its `auto_check` switch is gone in 4.x. Covered by tests/test_ratelimit.py.
    """

    exempt_blueprints: frozenset[str] = frozenset()

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if request.blueprint not in self.exempt_blueprints:
            super()._check_request_limit(callable_name, in_middleware)


def init_app(app: Flask, settings: Settings, exempt: tuple[Blueprint, ...] = ()) -> Limiter:
    """A Limiter per app (Flask-Limiter keeps its state on the instance) on the shared pool."""
    app.config.update(
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        # Headers on every response would cost a second Redis round trip per request (window
        # stats); the 429 answer carries them instead (rate_limit_headers below).
        RATELIMIT_HEADERS_ENABLED=False,
        RATELIMIT_KEY_PREFIX=f"{settings.key_prefix}:limit",
        # Fail open: a Redis outage must not take the API down with it (the default).
        RATELIMIT_SWALLOW_ERRORS=settings.ratelimit_fail_open,
    )
    # The app's one pool: the limiter opens no connections of its own.
    storage_options: dict[str, Any] = {"connection_pool": get_redis(app).connection_pool}
    limiter = BlueprintExemptLimiter(
        key_func=get_remote_address,
        default_limits=[settings.ratelimit_default],
        storage_uri="redis://",
        storage_options=storage_options,
        strategy="fixed-window",
    )
    limiter.exempt_blueprints = frozenset(blueprint.name for blueprint in exempt)
    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    return limiter


def rate_limit_headers(app: Flask) -> dict[str, str]:
    """Retry-After and X-RateLimit-* for the limit this request breached."""
    limiter: Limiter = app.extensions["rate_limiter"]
    current = limiter.current_limit
    if current is None:
        return {}
    reset_at = current.reset_at
    return {
        "Retry-After": str(max(1, math.ceil(reset_at - time.time()))),
        "X-RateLimit-Limit": str(current.limit.amount),
        "X-RateLimit-Remaining": str(max(0, current.remaining)),
        "X-RateLimit-Reset": str(reset_at),
    }
