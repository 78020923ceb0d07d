"""One rate-limit budget per client, across every route, counted in Redis.

The client is the authenticated principal, else the address (server/auth sets the actor before
this runs); an IPv6 address counts as its /64, which one host or home network is given, so
walking through it buys no new budget. Every request counts against that one budget: API
operations, the docs, 404s, 405s and 401s alike; only the health probes are exempt
(orchestrators poll them). Flask-Limiter's
per-route limits gave a refused client a fresh budget on every other endpoint and never counted
requests that matched no route, so this is a single before_request hook on the ``limits``
library (which Flask-Limiter itself is built on) instead.

Failed authentications have a budget of their own per address (APP_AUTH_FAILURE_LIMIT),
checked before any credential is looked at, so tokens cannot be guessed at the API's speed.

Counters are keys with a TTL under ``<prefix>:limit:``; see the README ("Redis memory") for
why the cache cannot evict them.

One Redis round trip per step: ``limits`` parses the budgets, names the counters, and answers
the 429's window figures, but the counting itself is queued on one pipeline together with the
reads that other parts of the request need next (``riders``: the token cache's lookup beside
the failure test, the read cache's lookup beside the count). py-spy on a cached read
(bench/hot_path.py) had the request thread waiting 21% on the limiter's own round trip and 27%
on the failure test's, beside 22% each for the token and cache lookups.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.client import Pipeline

from server.auth.actor import current_actor
from server.config import Settings
from server.infra.redis_client import get_redis

log = logging.getLogger(__name__)
AUTH_FAILURES = "auth-failure"
# What a rider is handed back: its commands' replies, or the error that stopped the round trip.
Outcome = list[Any] | redis.RedisError
Receiver = Callable[[Outcome], None]
# Queues its reads on the pipeline (or nothing: None) and says where their replies go.
Rider = Callable[[Pipeline], Receiver | None]


class RateLimited(Exception):
    """A budget is spent; server/errors.py answers 429 with ``headers``."""

    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class ClientLimiter:
    def __init__(
        self,
        app: Flask,
        settings: Settings,
        exempt_blueprints: frozenset[str],
        request_riders: Sequence[Rider] = (),
    ):
        self.redis = get_redis(app)
        self.storage = RedisStorage(
            "redis://",
            connection_pool=self.redis.connection_pool,
            key_prefix=f"{settings.key_prefix}:limit",
        )
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.limits = parse_many(settings.ratelimit_default)
        self.failure_limits = parse_many(settings.auth_failure_limit)
        self.enabled = settings.ratelimit_enabled
        self.fail_open = settings.ratelimit_fail_open
        self.exempt_blueprints = exempt_blueprints
        self.request_riders = tuple(request_riders)

    def check_request(self) -> None:
        """Count this request against its client's budget; 429 when it is spent.

        The request riders' reads (the read cache's lookup) go in the same round trip, counted
        or not."""
        if request.blueprint in self.exempt_blueprints:
            return
        items: list[RateLimitItem] = []
        client = ""
        if self.enabled:
            actor = current_actor()
            client = f"principal:{actor.principal_id}" if actor else f"address:{_address()}"
            items = self.limits

        def count(pipe: Pipeline) -> Callable[[list[Any]], None]:
            keys = [self._key(item, "request", client) for item in items]
            for item, key in zip(items, keys, strict=True):
                # FixedWindowRateLimiter.hit (limits' incr_expire script) as two commands: the
                # window starts at the first hit; EXPIRE NX also mends a counter left without one.
                pipe.incrby(key, 1)
                pipe.expire(key, item.get_expiry(), nx=True)

            def check(replies: list[Any]) -> None:
                for item, hits in zip(items, replies[::2], strict=True):
                    if int(hits) > item.amount:
                        raise _refusal(self.limiter, item, "request", client)

            return check

        self._round_trip(count if items else None, self.request_riders)

    def check_auth_failures(self, riders: Sequence[Rider] = ()) -> None:
        """429 when this address has used up its failed authentications (counts nothing).

        ``riders`` (the token cache's lookup) share its round trip, limited or not."""
        items = self.failure_limits if self.enabled else []
        address = _address()

        def test(pipe: Pipeline) -> Callable[[list[Any]], None]:
            for item in items:
                pipe.get(self._key(item, AUTH_FAILURES, address))

            def check(replies: list[Any]) -> None:
                # FixedWindowRateLimiter.test for a cost of 1.
                for item, failures in zip(items, replies, strict=True):
                    if int(failures or 0) >= item.amount:
                        raise _refusal(self.limiter, item, AUTH_FAILURES, address)

            return check

        self._round_trip(test if items else None, riders)

    def count_auth_failure(self) -> None:
        if not self.enabled:
            return
        address = _address()

        def hit_all() -> None:
            for item in self.failure_limits:
                self.limiter.hit(item, AUTH_FAILURES, address)

        self._guard(hit_all)

    def _key(self, item: RateLimitItem, namespace: str, client: str) -> str:
        """The counter ``limits`` itself keeps for this item and client."""
        return self.storage.prefixed_key(item.key_for(namespace, client))

    def _round_trip(
        self,
        own: Callable[[Pipeline], Callable[[list[Any]], None]] | None,
        riders: Sequence[Rider],
    ) -> None:
        """One pipeline: the limiter's commands, then each rider's; the riders get their
        replies (or the Redis error) before the limiter judges its own."""
        if own is None and not riders:
            return
        pipe = self.redis.pipeline(transaction=False)
        check = own(pipe) if own is not None else None
        mine = len(pipe)
        spans: list[tuple[int, int, Receiver]] = []
        for rider in riders:
            start = len(pipe)
            receiver = rider(pipe)
            if receiver is not None:
                spans.append((start, len(pipe), receiver))
        if not len(pipe):
            return
        try:
            replies = pipe.execute()
        except redis.RedisError as exc:
            for _start, _end, receiver in spans:
                receiver(exc)
            if check is not None:
                self._unavailable(exc)
            return
        for start, end, receiver in spans:
            receiver(replies[start:end])
        if check is not None:
            check(replies[:mine])

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except redis.RedisError as exc:
            self._unavailable(exc)

    def _unavailable(self, exc: redis.RedisError) -> None:
        """Redis failed the limiter: let the request through, or refuse it (503) if asked."""
        if not self.fail_open:
            raise exc
        log.warning("rate limit not applied, redis unavailable: %s", exc.__class__.__name__)


def _address() -> str:
    address = request.remote_addr or "unknown"
    return address if ":" not in address else client_network(address)


def client_network(address: str) -> str:
    """An IPv6 address's /64 (an IPv4-mapped one's IPv4 address): one client's budget, where
    a /128 would let whoever holds the /64 try 2**64 addresses."""
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


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


def init_app(
    app: Flask,
    settings: Settings,
    exempt_blueprints: frozenset[str],
    request_riders: Sequence[Rider] = (),
) -> ClientLimiter:
    """The limiter as a before_request hook; ``request_riders`` share its round trip."""
    limiter = ClientLimiter(app, settings, exempt_blueprints, request_riders)
    app.extensions["rate_limiter"] = limiter
    app.before_request(limiter.check_request)
    return limiter


def client_limiter(app: Flask) -> ClientLimiter:
    limiter: ClientLimiter = app.extensions["rate_limiter"]
    return limiter
