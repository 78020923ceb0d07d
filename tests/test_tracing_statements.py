"""A failed statement's span says its error's type and SQLSTATE, never the values psycopg2's
message quotes (server/middleware/tracing.py, StatementErrorsWithoutValues): in-process, with
the SDK's in-memory exporter and the real psycopg2 instrumentation on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from server.middleware.tracing import StatementErrorsWithoutValues

from support.servers import Postgres

sdk_trace = pytest.importorskip(
    "opentelemetry.sdk.trace", reason="the tracing extra is not installed (pip install '.[dev]')"
)
from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

SECRET = "fns_ab3de6gh_notfortraces"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = Psycopg2Instrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        pytest.skip("psycopg2 is instrumented already in this process")
    instrumentor.instrument(tracer_provider=StatementErrorsWithoutValues(provider))
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


def everything_said(span: Any) -> str:
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    return repr((span.name, dict(span.attributes or {}), span.status.description, events))


def test_a_failed_statement_span_carries_no_value(
    pg: Postgres, exported: InMemorySpanExporter
) -> None:
    conn = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, dbname=pg.default_db)
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidTextRepresentation):
            cur.execute("SELECT CAST(%(value)s AS integer)", {"value": SECRET})
    finally:
        conn.close()
    (span,) = [s for s in exported.get_finished_spans() if "CAST" in everything_said(s)]
    said = everything_said(span)
    assert SECRET not in said
    assert span.status.description == "InvalidTextRepresentation (22P02)"
    assert (
        "exception",
        {"exception.type": "InvalidTextRepresentation", "db.sqlstate": "22P02"},
    ) in [(e.name, dict(e.attributes or {})) for e in span.events]
