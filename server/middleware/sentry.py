"""Sentry error reporting, only when a DSN is set (the optional ``sentry`` extra)."""

from __future__ import annotations

import logging
from typing import Any

from server.config import Settings
from server.redaction import redacted_query

log = logging.getLogger(__name__)


def init(settings: Settings) -> bool:
    """Start Sentry if configured; True when it runs."""
    if settings.sentry_dsn is None:
        return False
    try:
        import sentry_sdk
    except ImportError:
        log.warning(
            "APP_SENTRY_DSN is set but sentry-sdk is not installed: pip install '.[sentry]'"
        )
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.env,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        # No send_default_pii: off by default, and deprecated by newer sentry-sdk releases.
        before_send=drop_client_errors,
        # Each frame's local variables would go too: the bearer token being checked, a
        # request's body. Sentry's scrubber knows "token" and "password", not "credential".
        include_local_variables=False,
    )
    return True


def drop_client_errors(event: Any, hint: dict[str, Any]) -> Any:
    """4xx answers are the client's mistakes, not ours: keep them out of Sentry. What is
    sent carries no credential a client put in the URL (server/redaction.py)."""
    exc = hint.get("exc_info", (None, None))[1]
    status = getattr(exc, "code", None) or getattr(exc, "status", None)
    if isinstance(status, int) and 400 <= status < 500:
        return None
    request = event.get("request")
    if isinstance(request, dict) and isinstance(request.get("query_string"), str):
        request["query_string"] = redacted_query(request["query_string"])
    return event
