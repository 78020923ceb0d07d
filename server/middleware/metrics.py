"""Time and count every request for the Prometheus metrics (server/infra/metrics.py)."""

from __future__ import annotations

import re
import time

from flask import Flask, Request, Response, g
from prometheus_client import Counter, Histogram

from server.infra.build_info import REVISION
from server.infra.current_request import current_request
from server.infra.database import db
from server.infra.metrics import (
    BUILD_INFO,
    LATENCY,
    METHODS,
    RATE_LIMITED,
    REQUESTS,
    UNMATCHED,
    package_version,
    record_auth_failure,
    watch_pool,
)

# RFC 6750's error code in a Bearer challenge (invalid_request, invalid_token, ...).
ERROR_CODE = re.compile(r'\berror="([a-z_]+)"')


def route_label(this: Request) -> str:
    rule = this.url_rule
    return rule.rule if rule is not None else UNMATCHED


def method_label(this: Request) -> str:
    return this.method if this.method in METHODS else "OTHER"


# The request counter's and latency histogram's children by (route, method, status): what
# ``labels()`` returns for them, looked up once. labels() validates and converts its values and
# takes the metric's lock on every call; the labels are bounded (module docstring of
# server/infra/metrics.py), so this table is too. Nothing removes children from these metrics.
_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def request_series(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    key = (route, method, status)
    series = _series.get(key)
    if series is None:
        series = REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method)
        _series[key] = series
    return series


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _record_request(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    this = current_request()
    route, method = route_label(this), method_label(this)
    count, latency = request_series(route, method, response.status_code)
    count.inc()
    if started is not None:
        latency.observe(time.perf_counter() - started)
    if response.status_code == 429:
        RATE_LIMITED.labels(route).inc()
    elif response.status_code in (401, 403):
        record_auth_failure(auth_failure_reason(response))
    return response


def auth_failure_reason(response: Response) -> str:
    """RFC 6750's error code from the challenge, else ``missing`` (401) or ``forbidden`` (403).

    Read from the answer, so whatever refuses a request is counted without calling anything.
    """
    match = ERROR_CODE.search(response.headers.get("WWW-Authenticate", ""))
    if match:
        return match.group(1)
    return "missing" if response.status_code == 401 else "forbidden"


def init_app(app: Flask) -> None:
    """Time and count every request, and watch the database pool of this app."""
    # Registered first by the factory: its timer starts before any other hook runs, and its
    # after_request runs last (Flask runs them in reverse), so it sees the final status.
    app.before_request(_start_timer)
    app.after_request(_record_request)
    with app.app_context():
        watch_pool(db.engine)
    BUILD_INFO.labels(package_version(), REVISION).set(1)
