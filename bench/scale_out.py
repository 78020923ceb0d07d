"""Throughput through nginx for 1, 2 and 3 server instances (tests/support/cluster.py).

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.scale_out [--seconds 10] [--connections 32]

Each instance is gunicorn with the server's config (2 sync workers) on PgBouncer (transaction
mode) and one Redis, all on this machine. wrk measures a cached read and the uncached list
(cache off: every request reaches PostgreSQL through PgBouncer). Prints requests/s and the
ratio to one instance. On a machine with few cores the instances, nginx, PgBouncer,
PostgreSQL, Redis and wrk share the same CPUs, so the curve flattens: the CPU count is printed
with the figures.
"""

from __future__ import annotations

import argparse
import os

import requests

from bench import first_line
from bench.servers_for_bench import backends, wrk

from support.cluster import cluster
from support.servers import Postgres


def measure(
    pg: Postgres, redis_url: str, instances: int, seconds: int, connections: int
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, cache, path in (
        ("cached read", "true", "/api/v1/projects/{id}"),
        ("list, no cache", "false", "/api/v1/projects?limit=5"),
    ):
        with cluster(
            pg, redis_url, instances=instances, APP_LOG_LEVEL="WARNING", APP_CACHE_ENABLED=cache
        ) as c:
            created = requests.post(
                f"{c.base}/api/v1/projects", json={"name": "bench"}, headers=c.headers, timeout=5
            )
            url = c.base + path.format(id=created.json()["id"])
            wrk(url, 2, connections, headers=c.headers)  # warm-up: pools, cache
            figures[name] = wrk(url, seconds, connections, headers=c.headers)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-instances", type=int, default=3)
    args = parser.parse_args()
    print(f"CPUs: {os.cpu_count()} (shared by nginx, PgBouncer, PostgreSQL, Redis, wrk)")
    results: dict[int, dict[str, float]] = {}
    with backends() as (pg, redis):
        for instances in range(1, args.max_instances + 1):
            results[instances] = measure(pg, redis.url, instances, args.seconds, args.connections)
            print(
                f"{instances} instance(s): "
                + ", ".join(
                    f"{name} {rps:.0f} req/s ({rps / results[1][name]:.2f}x)"
                    for name, rps in results[instances].items()
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
