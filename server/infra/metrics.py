"""Prometheus metrics: requests, latency, database pool, cache, limits, auth, build.

Labels take only bounded values, so the number of series stays fixed whatever clients send:
the route *template* (``/api/v1/projects/<id:project_id>``, or ``unmatched`` when no route
matched), the method from a fixed set (else ``OTHER``), the status code, and fixed reasons.
Never a raw path, id or query string.

The objects always exist and record in memory; under gunicorn with APP_METRICS_ENABLED they
record into prometheus_client's multiprocess files instead, and the master serves them on
APP_METRICS_BIND (server/infra/metrics_exporter.py). Requests are timed and counted by
server/middleware/metrics.py.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.engine import Engine

NAMESPACE = "fns"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# A 401 without an error code (no credentials), RFC 6750's codes, and a 403 without one.
AUTH_FAILURES = frozenset(
    {"missing", "invalid_request", "invalid_token", "insufficient_scope", "forbidden"}
)

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    namespace=NAMESPACE,
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the app to its answer, by route template.",
    ["route", "method"],
    namespace=NAMESPACE,
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pools (all live workers).",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
DB_POOL_OVERFLOW = Gauge(
    "db_pool_overflow_connections",
    "Connections open beyond APP_DB_POOL_SIZE (all live workers).",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
CACHE = Counter(
    "cache_requests",
    "Cacheable API reads: hit, miss, or bypass (Redis unavailable or invalidation pending).",
    ["result"],
    namespace=NAMESPACE,
)
RATE_LIMITED = Counter(
    "rate_limit_rejections",
    "Requests refused with 429 by the rate limits, by route template.",
    ["route"],
    namespace=NAMESPACE,
)
AUTH_FAILED = Counter(
    "auth_failures",
    "Requests refused by authentication or authorization, by reason.",
    ["reason"],
    namespace=NAMESPACE,
)
BUILD_INFO = Gauge(
    "build_info",
    "Always 1; the labels say which build runs.",
    ["version", "revision"],
    namespace=NAMESPACE,
    multiprocess_mode="max",
)


def package_version() -> str:
    try:
        return version("flask-nix-stack")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def record_cache(result: Literal["hit", "miss", "bypass"]) -> None:
    """Count one cacheable read (called by server/cache.py)."""
    CACHE.labels(result).inc()


def record_auth_failure(reason: str) -> None:
    """Count one request refused by authentication or authorization; unknown reasons count as
    ``other``. The request middleware calls it for every 401 and 403 answer."""
    AUTH_FAILED.labels(reason if reason in AUTH_FAILURES else "other").inc()


def watch_pool(engine: Engine) -> None:
    """Keep the pool gauges current from the pool's own checkout and checkin events.

    The events travel with the pool when it is recreated (gunicorn's post_fork disposes it).
    """

    def overflow() -> float:
        size = getattr(engine.pool, "overflow", None)
        value = size() if callable(size) else 0
        return max(0, value) if isinstance(value, int) else 0

    def checked_out(*_: object) -> None:
        DB_POOL_IN_USE.inc()
        DB_POOL_OVERFLOW.set(overflow())

    def checked_in(*_: object) -> None:
        DB_POOL_IN_USE.dec()
        DB_POOL_OVERFLOW.set(overflow())

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "checkin", checked_in)
