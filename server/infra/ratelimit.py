"""One rate-limit budget per client, across every route, counted in Redis.

The client is the authenticated principal, else the address (server/auth sets the actor before
this runs). Every request counts against that one budget: API operations, the docs, 404s, 405s
and 401s alike; only the health probes are exempt (orchestrators poll them). Flask-Limiter's
per-route limits gave a refused client a fresh budget on every other endpoint and never counted
requests that matched no route, so this is a single before_request hook on the ``limits``
library (which Flask-Limiter itself is built on) instead.

Failed authentications have a budget of their own per address (APP_AUTH_FAILURE_LIMIT),
checked before any credential is looked at, so tokens cannot be guessed at the API's speed.

Counters are keys with a TTL under ``<prefix>:limit:``; see the README ("Redis memory") for
why the cache cannot evict them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import redis
from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from server.auth.actor import current_actor
from server.config import Settings
from server.infra.redis_client import get_redis

log = logging.getLogger(__name__)
AUTH_FAILURES = "auth-failure"


class RateLimited(Exception):
    """A budget is spent; server/errors.py answers 429 with ``headers``."""

    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class ClientLimiter:
    def __init__(self, app: Flask, settings: Settings, exempt_blueprints: frozenset[str]):
        storage = RedisStorage(
            "redis://",
            connection_pool=get_redis(app).connection_pool,
            key_prefix=f"{settings.key_prefix}:limit",
        )
        self.limiter = FixedWindowRateLimiter(storage)
        self.limits = parse_many(settings.ratelimit_default)
        self.failure_limits = parse_many(settings.auth_failure_limit)
        self.enabled = settings.ratelimit_enabled
        self.fail_open = settings.ratelimit_fail_open
        self.exempt_blueprints = exempt_blueprints

    def check_request(self) -> None:
        """Count this request against its client's budget; 429 when it is spent."""
        if not self.enabled or request.blueprint in self.exempt_blueprints:
            return
        actor = current_actor()
        client = f"principal:{actor.principal_id}" if actor else f"address:{_address()}"
        self._hit("request", client, self.limits)

    def check_auth_failures(self) -> None:
        """429 when this address has used up its failed authentications (counts nothing)."""
        if not self.enabled:
            return
        address = _address()

        def test_all() -> None:
            for item in self.failure_limits:
                if not self.limiter.test(item, AUTH_FAILURES, address):
                    raise _refusal(self.limiter, item, AUTH_FAILURES, address)

        self._guard(test_all)

    def count_auth_failure(self) -> None:
        if not self.enabled:
            return
        address = _address()

        def hit_all() -> None:
            for item in self.failure_limits:
                self.limiter.hit(item, AUTH_FAILURES, address)

        self._guard(hit_all)

    def _hit(self, namespace: str, client: str, items: list[RateLimitItem]) -> None:
        def hit_all() -> None:
            for item in items:
                if not self.limiter.hit(item, namespace, client):
                    raise _refusal(self.limiter, item, namespace, client)

        self._guard(hit_all)

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except redis.RedisError as exc:
            if not self.fail_open:
                raise
            log.warning("rate limit not applied, redis unavailable: %s", exc.__class__.__name__)


def _address() -> str:
    return request.remote_addr or "unknown"


def _refusal(
    limiter: FixedWindowRateLimiter, item: RateLimitItem, namespace: str, client: str
) -> RateLimited:
    stats = limiter.get_window_stats(item, namespace, client)
    reset_at = int(stats.reset_time)
    headers = {
        "Retry-After": str(max(1, math.ceil(stats.reset_time - time.time()))),
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(max(0, stats.remaining)),
        "X-RateLimit-Reset": str(reset_at),
    }
    return RateLimited(f"Rate limit exceeded: {item}.", headers)


def init_app(app: Flask, settings: Settings, exempt_blueprints: frozenset[str]) -> ClientLimiter:
    limiter = ClientLimiter(app, settings, exempt_blueprints)
    app.extensions["rate_limiter"] = limiter
    app.before_request(limiter.check_request)
    return limiter


def client_limiter(app: Flask) -> ClientLimiter:
    limiter: ClientLimiter = app.extensions["rate_limiter"]
    return limiter
