"""Time and count every request for the Prometheus metrics (server/infra/metrics.py)."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from server.infra.build_info import REVISION
from server.infra.database import db
from server.infra.metrics import (
    BUILD_INFO,
    LATENCY,
    METHODS,
    RATE_LIMITED,
    REQUESTS,
    UNMATCHED,
    package_version,
    watch_pool,
)


def route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def method_label() -> str:
    return request.method if request.method in METHODS else "OTHER"


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _record_request(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    route, method = route_label(), method_label()
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    if started is not None:
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
    if response.status_code == 429:
        RATE_LIMITED.labels(route).inc()
    return response


def init_app(app: Flask) -> None:
    """Time and count every request, and watch the database pool of this app."""
    # Registered first by the factory: its timer starts before any other hook runs, and its
    # after_request runs last (Flask runs them in reverse), so it sees the final status.
    app.before_request(_start_timer)
    app.after_request(_record_request)
    with app.app_context():
        watch_pool(db.engine)
    BUILD_INFO.labels(package_version(), REVISION).set(1)
