"""OpenTelemetry tracing through either server's workers, exported over OTLP/HTTP to a receiver.

The receiver decodes what the workers send with OpenTelemetry's own protobuf types, so the test
sees what a collector would: spans from the Flask, psycopg2 and Redis instrumentations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from support.processes import app_env, authed, running_server
from support.servers import wait_until

pytestmark = pytest.mark.slow
trace_service = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    reason="the tracing extra is not installed (pip install -e '.[dev]')",
)


class Receiver(ThreadingHTTPServer):
    """OTLP/HTTP traces endpoint: records (instrumentation scope, span name, service name)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.spans: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = trace_service.ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                found += [(scope_spans.scope.name, s.name, service) for s in scope_spans.spans]
        receiver = cast(Receiver, self.server)
        with receiver.lock:
            receiver.spans += found
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("server_kind", ["granian", "gunicorn"])
def test_workers_export_request_sql_and_redis_spans(
    migrated_database: Callable[[str], str], redis_url: str, receiver: Receiver, server_kind: str
) -> None:
    url = migrated_database(f"fns_tracing_{server_kind}")
    env = app_env(
        url,
        redis_url,
        APP_SERVER=server_kind,
        APP_TRACING_ENABLED="true",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",  # ms: export soon after each request
    )
    # One worker: every worker exports alike (a forked gunicorn worker restarts the export
    # thread the master started, as a second one would), and nothing below tells workers
    # apart, so a second one would only add its start-up.
    with running_server(env, workers=1) as server:
        for _ in range(6):
            assert authed.get(f"{server.base}/api/v1/projects", timeout=5).ok
        # Writes work through the instrumented driver too.
        created = authed.post(f"{server.base}/api/v1/projects", json={"name": "t"}, timeout=5)
        assert created.status_code == 201, created.text

        def scopes() -> set[str]:
            with receiver.lock:
                return {scope for scope, _, _ in receiver.spans}

        wanted = {
            "opentelemetry.instrumentation.flask",
            "opentelemetry.instrumentation.psycopg2",
            "opentelemetry.instrumentation.redis",
        }
        request_span = (
            "opentelemetry.instrumentation.flask",
            "GET /api/v1/projects",
            "flask-nix-stack",
        )

        def exported() -> bool:
            with receiver.lock:
                seen = list(receiver.spans)
            return request_span in seen and wanted <= {scope for scope, _, _ in seen}

        try:
            wait_until(exported, 30, "spans from all three instrumentations")
        except TimeoutError:
            raise AssertionError(f"scopes seen: {scopes()}\n{server.log()}") from None
    with receiver.lock:
        spans = list(receiver.spans)
    # A route template, never a raw path with ids, names the request spans.
    assert all("?" not in name for scope, name, _ in spans if scope.endswith("flask"))
