"""The request behind Flask's ``request`` proxy, for hot code that reads several of its fields.

Each attribute read through the proxy looks the request up in its context again; a hook that
reads many takes the object once (measured with bench/inprocess_cost.py).
"""

from __future__ import annotations

from flask import Request, request


def current_request() -> Request:
    this: Request = request._get_current_object()  # type: ignore[attr-defined]
    return this
