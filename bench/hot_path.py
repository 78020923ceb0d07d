"""The hot path against its baselines, as ratios from one run: one command, one summary line.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.hot_path [--seconds 5] [--rounds 5] [--connections 16]

Needs wrk on PATH and the bench extra (pip install -e '.[bench]'). Starts PostgreSQL and Redis,
then, all at once and each with 2 workers:
- the app under the default server (`flask-nix-stack serve`, granian), cache on and cache off;
- a bare Flask hello-world and a naive Flask-SQLAlchemy primary-key read, under the very same
  granian options (bench/granian_target.py);
- the peer users would pick instead: FastAPI on uvicorn (uvloop, httptools) serving the same
  cached read (Redis GET, JSON) and DB read (SQLAlchemy primary key, pydantic)
  (bench/peer_fastapi.py).
wrk (keep-alive) measures each series in alternating rounds, so load from elsewhere on the
machine hits all of them alike. Prints every round, the medians, the worst rounds, the targets,
and last the summary line:

    ratios: live=X cached=X cached_vs_peer=X db=X db_vs_peer=X p99=X worst=X

live, cached: the app's /health/live and cached GET /api/v1/projects/<id> over hello-world;
cached_vs_peer: cached over the peer's cached read; db: the app's GET with the cache off over the
naive endpoint; db_vs_peer: the same over the peer's DB read; p99: the app's /health/live p99
over hello-world's p99 (lower is better); worst: the lowest worst-round/median of any series.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from contextlib import ExitStack

from bench import first_line
from bench.servers_for_bench import (
    AUTH,
    BIN,
    ROOT,
    backends,
    migrated_env,
    post_project,
    started,
    wrk_run,
)

from support.servers import free_port

TARGETS = {
    "live": 0.9,
    "cached": 0.7,
    "cached_vs_peer": 1.0,
    "db": 1.0,
    "db_vs_peer": 1.0,
}
P99_TARGET = 2.0  # at most
WORST_TARGET = 0.7


def main() -> int:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    rps: dict[str, list[float]] = defaultdict(list)
    p99: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    with backends() as (pg, redis), ExitStack() as stack:
        env = migrated_env(pg, redis.url, "bench_hot_path")
        ports = {name: free_port() for name in ("app", "nocache", "hello", "naive", "peer")}

        def bound(name: str, **extra: str) -> dict[str, str]:
            return {**env, **extra, "APP_BIND": f"127.0.0.1:{ports[name]}"}

        serve = [str(BIN / "flask-nix-stack"), "serve"]
        app = stack.enter_context(started(serve, bound("app"), ports["app"]))
        nocache = stack.enter_context(
            started(serve, bound("nocache", APP_CACHE_ENABLED="false"), ports["nocache"])
        )
        project = post_project(app, "bench hot path")
        granian = [sys.executable, "-m", "bench.granian_target"]
        hello = stack.enter_context(
            started([*granian, "bench.hello_app:rsgi"], bound("hello"), ports["hello"], "/", ROOT)
        )
        naive = stack.enter_context(
            started(
                [*granian, "bench.naive_app:rsgi"],
                bound("naive"),
                ports["naive"],
                f"/projects/{project}",
                ROOT,
            )
        )
        uvicorn = [
            str(BIN / "uvicorn"),
            *("--workers", "2", "--loop", "uvloop", "--http", "httptools"),
            *("--no-access-log", "--port", str(ports["peer"]), "bench.peer_fastapi:app"),
        ]
        peer = stack.enter_context(
            started(uvicorn, bound("peer"), ports["peer"], f"/db/{project}", ROOT)
        )
        urls = {
            "hello": f"{hello}/",
            "live": f"{app}/health/live",
            "cached": f"{app}/api/v1/projects/{project}",
            "db": f"{nocache}/api/v1/projects/{project}",
            "naive": f"{naive}/projects/{project}",
            "peer_cached": f"{peer}/cached/{project}",
            "peer_db": f"{peer}/db/{project}",
        }
        for url in urls.values():  # warm every worker's pools and caches
            wrk_run(url, 1, args.connections, headers=AUTH)
        for n in range(args.rounds):
            for name, url in urls.items():
                result = wrk_run(url, args.seconds, args.connections, headers=AUTH)
                rps[name].append(result.rps)
                p99[name].append(result.p99_ms)
                errors[name] += result.errors
                line = f"{result.rps:8.0f} req/s  p99 {result.p99_ms:6.1f} ms"
                print(f"round {n + 1}  {name:12} {line}", flush=True)

    med = {name: statistics.median(values) for name, values in rps.items()}
    med_p99 = {name: statistics.median(values) for name, values in p99.items()}
    print(
        f"\nmedians over {args.rounds} rounds of {args.seconds:g} s, "
        f"{args.connections} keep-alive connections:"
    )
    for name in rps:
        worst = min(rps[name])
        print(
            f"  {name:12} {med[name]:8.0f} req/s  worst round {worst:8.0f} "
            f"({worst / med[name]:.2f}x)  p99 {med_p99[name]:6.1f} ms  errors {errors[name]}"
        )
    ratios = {
        "live": med["live"] / med["hello"],
        "cached": med["cached"] / med["hello"],
        "cached_vs_peer": med["cached"] / med["peer_cached"],
        "db": med["db"] / med["naive"],
        "db_vs_peer": med["db"] / med["peer_db"],
        "p99": med_p99["live"] / med_p99["hello"],
        "worst": min(min(values) / med[name] for name, values in rps.items()),
    }
    print("\ntargets:")
    for name, target in TARGETS.items():
        verdict = "ok" if ratios[name] >= target else "BELOW TARGET"
        print(f"  {name:15} {ratios[name]:.2f}  (>= {target}: {verdict})")
    print(
        f"  {'p99':15} {ratios['p99']:.2f}  (<= {P99_TARGET}: "
        f"{'ok' if ratios['p99'] <= P99_TARGET else 'ABOVE TARGET'})"
    )
    print(
        f"  {'worst':15} {ratios['worst']:.2f}  (>= {WORST_TARGET}: "
        f"{'ok' if ratios['worst'] >= WORST_TARGET else 'BELOW TARGET'})"
    )
    print(f"  cached p99 over hello p99: {med_p99['cached'] / med_p99['hello']:.2f} (information)")
    if any(errors.values()):
        print(f"errors: {dict(errors)}")
    print("ratios: " + " ".join(f"{name}={value:.2f}" for name, value in ratios.items()))
    return 1 if any(errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
