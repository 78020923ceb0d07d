"""CPU per request of the hot path, in-process, against a bare Flask hello-world in the same run.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.inprocess_cost [--requests 2000] [--rounds 7] [--metrics-files]
        python -m bench.inprocess_cost --profile cached      (cProfile of one series)

No HTTP server and no client: each request is a WSGI environ shaped as server/wsgi_bridge.py
builds it, handed to the app as the bridge's pool thread does (``call_wsgi``), and measured in
this process's CPU time (``time.process_time``), so load from elsewhere on the machine moves
the figures far less than it moves wrk's. What a server adds around the app (granian, the
bridge's hand-off) and what PostgreSQL and Redis spend on their side are left out.

The app is built as ``flask-nix-stack serve`` builds it in a worker: production settings from
the environment, the access log on, its lines going to a file; with ``--metrics-files`` its
metrics are written to prometheus_client's multiprocess files (APP_METRICS_ENABLED).

Series, alternating within each round: ``hello`` (bench/hello_app.py), ``live``
(/health/live), ``cached`` (GET /api/v1/projects/<id> as the bootstrap admin, cache on),
``db`` (the same with the cache off), ``naive`` (bench/naive_app.py's primary-key read).
Prints the median µs of CPU per request of each, and the ratios hello/live, hello/cached and
naive/db (what bench/hot_path.py's live, cached and db would be if CPU alone decided them).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from bench import first_line

Environ = dict[str, Any]


def environ_for(path: str, headers: dict[str, str]) -> Environ:
    """What server/wsgi_bridge.py's build_environ makes of a GET without a body."""
    environ: Environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "inprocess-cost",
        "HTTP_ACCEPT": "*/*",
    }
    for name, value in headers.items():
        environ[f"HTTP_{name.upper().replace('-', '_')}"] = value
    return environ


def request_once(app: Callable[..., Any], template: Environ) -> tuple[int, bytes]:
    from server.wsgi_bridge import call_wsgi

    environ = dict(template)
    environ["wsgi.input"] = io.BytesIO(b"")
    status, _headers, body = call_wsgi(app, environ)
    return status, body


@contextmanager
def stderr_to(path: str) -> Iterator[None]:
    """File descriptor 2 (where the access log's handler writes) into ``path``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as target:
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def main() -> int:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--requests", type=int, default=2000, help="per series and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--metrics-files", action="store_true")
    parser.add_argument("--profile", metavar="SERIES", help="cProfile this series instead")
    parser.add_argument(
        "--series", help="comma-separated: measure only these (e.g. under py-spy)", default=""
    )
    args = parser.parse_args()

    with ExitStack() as stack:
        if args.metrics_files:
            # Read by prometheus_client when it is imported: before anything imports the app.
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-prom-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        from bench.servers_for_bench import AUTH, backends, migrated_env

        pg, redis = stack.enter_context(backends())
        env = migrated_env(pg, redis.url, "bench_inprocess")
        os.environ.update(env)
        os.environ["APP_ACCESS_LOG"] = "true"  # as `flask-nix-stack serve` sets it
        if args.metrics_files:
            os.environ["APP_METRICS_ENABLED"] = "true"
        apps = build_apps()
        log = tempfile.NamedTemporaryFile(prefix="bench-inprocess-", suffix=".log", delete=False)  # noqa: SIM115
        log.close()

        project = post_project(apps["app"], AUTH)
        series = {
            "hello": (apps["hello"], environ_for("/", {})),
            "live": (apps["app"], environ_for("/health/live", {})),
            "cached": (apps["app"], environ_for(f"/api/v1/projects/{project}", AUTH)),
            "db": (apps["nocache"], environ_for(f"/api/v1/projects/{project}", AUTH)),
            "naive": (apps["naive"], environ_for(f"/projects/{project}", {})),
        }
        with stderr_to(log.name):
            for name, (app, template) in series.items():  # warm every pool and cache
                for _ in range(50):
                    status, body = request_once(app, template)
                    if status != 200:
                        raise SystemExit(f"{name}: {status} {body[:200]!r}; log: {log.name}")
            if args.profile:
                app, template = series[args.profile]
                profile(app, template, args.requests)
                return 0
            chosen = args.series.split(",") if args.series else list(series)
            cpu = measure({name: series[name] for name in chosen}, args.requests, args.rounds)

    print(f"µs of CPU per request, {args.rounds} rounds of {args.requests} requests a series:")
    med = {name: statistics.median(values) for name, values in cpu.items()}
    for name, values in cpu.items():
        print(f"  {name:8} median {med[name]:7.1f}  min {min(values):7.1f}  max {max(values):7.1f}")
    if not args.series:
        print(
            f"ratios (CPU): live={med['hello'] / med['live']:.2f} "
            f"cached={med['hello'] / med['cached']:.2f} db={med['naive'] / med['db']:.2f}"
        )
    return 0


def post_project(app: Callable[..., Any], auth: dict[str, str]) -> int:
    import json

    payload = json.dumps({"name": "bench inprocess", "description": "x" * 200}).encode()
    environ = {
        **environ_for("/api/v1/projects", auth),
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(payload)),
    }
    from server.wsgi_bridge import call_wsgi

    environ["wsgi.input"] = io.BytesIO(payload)
    status, _headers, body = call_wsgi(app, environ)
    if status != 201:
        raise SystemExit(f"POST /api/v1/projects: {status} {body[:300]!r}")
    return int(json.loads(body)["id"])


def build_apps() -> dict[str, Callable[..., Any]]:
    """The app (cache on and off) and the two baselines, the start-up's objects then frozen
    out of the collector's passes as in a worker (server/startup.py)."""
    from server.app import create_app
    from server.config import load_settings
    from server.startup import collector_paused

    with collector_paused():
        app = create_app()
        nocache = create_app(load_settings().model_copy(update={"cache_enabled": False}))
        from bench import hello_app, naive_app

    return {"app": app, "nocache": nocache, "hello": hello_app.app, "naive": naive_app.app}


def measure(
    series: dict[str, tuple[Callable[..., Any], Environ]], requests: int, rounds: int
) -> dict[str, list[float]]:
    cpu: dict[str, list[float]] = {name: [] for name in series}
    for _ in range(rounds):
        for name, (app, template) in series.items():
            started = time.process_time()
            for _ in range(requests):
                request_once(app, template)
            cpu[name].append((time.process_time() - started) / requests * 1e6)
    return cpu


def profile(app: Callable[..., Any], template: Environ, requests: int) -> None:
    # CPU time, not wall: the time spent waiting on PostgreSQL or Redis is not the app's cost.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        request_once(app, template)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(45)
    stats.sort_stats("cumulative").print_stats(60)
    print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
