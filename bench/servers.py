"""The production server candidates, measured alike in one run: throughput and latency with and
without keep-alive, a cached read, and fresh clients' latency while slow clients are connected.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.servers [--rounds 3] [--seconds 4] [--only NAME ...]

Needs wrk and Debian's nginx on PATH and the bench extra (pip install -e '.[bench]'). Every
candidate serves the same app with the same settings (production profile, 2 workers), each the
way its users run it (bench/servers_for_bench.py CANDIDATES). Rounds alternate between the
candidates, each started afresh, so a busy neighbour on the machine hits all of them alike; the
medians and the worst round are printed.

Slow clients: 200 connections trickle their headers and 20 their bodies, a byte per 0.5 s each
(tests/support/slow_clients.py), while a fresh client sends GET /health/live on a new connection 20
times; a request unanswered after 5 s counts as failed (a stalled server never answers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from collections import defaultdict

from bench import first_line
from bench.servers_for_bench import AUTH, CANDIDATES, backends, migrated_env, wrk_run

from support.slow_clients import fresh_get, slow_clients

FRESH_REQUESTS = 20
GIVE_UP_AFTER = 3  # failed fresh requests before the rest are counted as failed too


def slow_client_figures(base: str) -> tuple[int, float, float]:
    """(failures, p50 ms, p99 ms) of fresh requests while slow clients are connected."""
    port = int(base.rsplit(":", 1)[1])
    latencies: list[float] = []
    failures = 0
    with slow_clients("127.0.0.1", port, trickle=200, bodies=20):
        for _ in range(FRESH_REQUESTS):
            if failures >= GIVE_UP_AFTER:
                failures += 1
                continue
            try:
                latencies.append(fresh_get("127.0.0.1", port, timeout=5.0))
            except OSError:
                failures += 1
    latencies.sort()
    if not latencies:
        return failures, float("nan"), float("nan")
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return failures, 1000 * statistics.median(latencies), 1000 * p99


def create_project(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/projects",
        data=json.dumps({"name": f"bench {time.time()}"}).encode(),
        headers={"Content-Type": "application/json", **AUTH},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        read = f"{base}/api/v1/projects/{json.load(response)['id']}"
    urllib.request.urlopen(urllib.request.Request(read, headers=AUTH)).read()  # primes the cache
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", nargs="*", help="candidate names (default: all)")
    args = parser.parse_args()
    candidates = [c for c in CANDIDATES if not args.only or c.name in args.only]

    figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with backends() as (pg, redis):
        env = migrated_env(pg, redis.url, "bench_servers")
        for n in range(args.rounds):
            for candidate in candidates:
                with candidate.run(env) as base:
                    read = create_project(base)
                    row = figures[candidate.name]
                    for label, url, keepalive in (
                        ("live", f"{base}/health/live", True),
                        ("live close", f"{base}/health/live", False),
                        ("cached", read, True),
                    ):
                        result = wrk_run(
                            url, args.seconds, args.connections, keepalive=keepalive, headers=AUTH
                        )
                        row[f"{label} rps"].append(result.rps)
                        row[f"{label} p50"].append(result.p50_ms)
                        row[f"{label} p99"].append(result.p99_ms)
                        row[f"{label} errors"].append(result.errors)
                    failures, p50, p99 = slow_client_figures(base)
                    row["slow failures"].append(failures)
                    row["slow p50"].append(p50)
                    row["slow p99"].append(p99)
                print(
                    f"round {n + 1} {candidate.name:22}"
                    f" live {row['live rps'][-1]:7.0f}/s"
                    f" close {row['live close rps'][-1]:6.0f}/s"
                    f" cached {row['cached rps'][-1]:6.0f}/s"
                    f" slow-client failures {failures}/{FRESH_REQUESTS}",
                    flush=True,
                )

    print(
        f"\nmedians over {args.rounds} rounds of {args.seconds:g} s, {args.connections} "
        "connections (req/s, p50/p99 ms); worst round in brackets; slow clients: failed "
        f"fresh requests of {FRESH_REQUESTS} per round (all rounds), their p50/p99 ms"
    )
    print(
        f"{'candidate':22}{'keep-alive':>26}{'Connection: close':>26}{'cached read':>26}"
        f"{'slow clients':>24}"
    )
    for name, row in figures.items():
        cells = []
        for label in ("live", "live close", "cached"):
            rps = row[f"{label} rps"]
            errors = int(sum(row[f"{label} errors"]))
            mark = f" E{errors}" if errors else ""
            cells.append(
                f"{statistics.median(rps):6.0f} [{min(rps):5.0f}] "
                f"{statistics.median(row[f'{label} p50']):4.1f}/"
                f"{statistics.median(row[f'{label} p99']):5.1f}{mark}"
            )
        answered = [value for value in row["slow p99"] if value == value]  # not NaN
        worst = f"{max(answered):6.1f}" if answered else "     -"
        slow = (
            f"{int(sum(row['slow failures'])):3d} fail "
            f"{statistics.median(row['slow p50']):6.1f}/{worst}"
        )
        print(f"{name:22}{cells[0]:>26}{cells[1]:>26}{cells[2]:>26}{slow:>24}")


if __name__ == "__main__":
    main()
