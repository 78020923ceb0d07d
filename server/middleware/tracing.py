"""OpenTelemetry traces of requests, SQL statements and Redis calls, when APP_TRACING_ENABLED.

Configured by OpenTelemetry's own variables, which the SDK reads: OTEL_SERVICE_NAME (default
here: flask-nix-stack), OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* and
OTEL_PYTHON_FLASK_EXCLUDED_URLS. Spans go out over OTLP/HTTP (protobuf) from a background
thread (the SDK restarts it in each forked worker). The packages are the optional `tracing`
extra (all in nixpkgs); without them APP_TRACING_ENABLED=true stops start-up with one line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from flask import Flask

from server.config import Settings, SettingsError
from server.redaction import redacted_query, redacted_url

SERVICE_NAME = "flask-nix-stack"
_provider: Any = None


def _tracer_provider() -> Any:
    """One provider per process, however many apps it builds (the SDK allows one global)."""
    global _provider
    if _provider is None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
        _provider = TracerProvider(resource=Resource.create(attributes))
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
    return _provider


# The span attributes that carry the request target, by semantic-conventions version.
TARGET_ATTRIBUTES = ("http.target", "url.query", "http.url", "url.full")


def redact_span_target(span: Any, *_hook_arguments: Any) -> None:
    """The server span without credentials a client put in the URL (server/redaction.py)."""
    attributes = getattr(span, "attributes", None) or {}
    for key in TARGET_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            shown = _redacted(key, value)
            if shown != value:
                span.set_attribute(key, shown)


def _redacted(key: str, value: str) -> str:
    return redacted_query(value) if key == "url.query" else redacted_url(value)


class StatementErrorsWithoutValues:
    """The tracer provider the psycopg2 instrumentation gets: a failed statement's span says its
    error's type and SQLSTATE, not its message.

    The instrumentation's spans record the exception whole (message, and a stack trace ending in
    it), and psycopg2's message quotes the statement as sent, values and all (it binds them in
    the client; PostgreSQL's "LINE 1:" context echoes them): what a client sent, or a token's
    digest, would go to the tracing backend. The logs leave them out the same way
    (server/errors.py)."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return _QuietTracer(self._provider.get_tracer(*args, **kwargs))


class _QuietTracer:
    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracer, name)

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        from opentelemetry.trace import Status, StatusCode

        kwargs.update(record_exception=False, set_status_on_exception=False)
        with self._tracer.start_as_current_span(name, *args, **kwargs) as span:
            try:
                yield span
            except Exception as exc:
                sqlstate = getattr(exc, "pgcode", None)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__} ({sqlstate})"))
                span.add_event(
                    "exception",
                    {"exception.type": type(exc).__qualname__, "db.sqlstate": str(sqlstate)},
                )
                raise


def init_app(app: Flask, settings: Settings) -> None:
    if not settings.tracing_enabled:
        return
    try:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
        from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
    except ImportError as exc:  # pragma: no cover - only where the extra is not installed
        raise SettingsError(
            f"APP_TRACING_ENABLED: needs the tracing extra ({exc.name} is not installed)"
        ) from None
    provider = _tracer_provider()
    # The response hook, not the request hook: the instrumentation sets the request's
    # attributes again after its request hook has run.
    FlaskInstrumentor().instrument_app(
        app, tracer_provider=provider, response_hook=redact_span_target
    )
    # SQL spans from the driver: opentelemetry-instrumentation-sqlalchemy declares support
    # below SQLAlchemy 2.1 only (it instruments nothing on 2.1, and forced, it needs greenlet).
    # Both instrumentors patch their library itself, so once per process.
    psycopg2_instrumentor = Psycopg2Instrumentor()
    if not psycopg2_instrumentor.is_instrumented_by_opentelemetry:
        psycopg2_instrumentor.instrument(tracer_provider=StatementErrorsWithoutValues(provider))
    redis_instrumentor = RedisInstrumentor()  # its spans hold the commands' names only
    if not redis_instrumentor.is_instrumented_by_opentelemetry:
        redis_instrumentor.instrument(tracer_provider=provider)
