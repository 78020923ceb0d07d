"""What safe requests in autocommit bought: the same app with its reads in transactions (A) and
in autocommit (B), in alternating rounds of one run, beside bench/hot_path.py's DB baselines.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.read_transactions [--seconds 5] [--rounds 5] [--connections 16]

A is `python -m bench.granian_target bench.transactional_reads_app:app` (granian with the
options `flask-nix-stack serve` gives it): server/infra/safe_requests.py told that no request
reads only, so a GET sends BEGIN before its first statement and ROLLBACK at its end, as
before. B is `server.rsgi:app` under the same command. All else is the same code (the write
guard runs in both). Cache off: each GET reads PostgreSQL (GET /api/v1/projects/<id>, and a
page of 20).
Prints every round, the medians, and last ``autocommit/transactions: one=X page=X``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import urllib.request
from collections import defaultdict
from contextlib import ExitStack

from bench.servers_for_bench import AUTH, BIN, ROOT, app_env, backends, free_port, started, wrk_run


def post_project(base: str, name: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/projects",
        data=json.dumps({"name": name, "description": "x" * 200}).encode(),
        headers={"Content-Type": "application/json", **AUTH},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return int(json.load(response)["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    rps: dict[str, list[float]] = defaultdict(list)
    errors = 0
    with backends() as (pg, redis), ExitStack() as stack:
        env = app_env(
            pg.create_database("bench_read_transactions"), redis.url, APP_CACHE_ENABLED="false"
        )
        upgrade = [str(BIN / "flask-nix-stack"), "db", "upgrade"]
        subprocess.run(upgrade, env=env, check=True, capture_output=True)
        granian = [sys.executable, "-m", "bench.granian_target"]
        bases = {}
        for side, target in (
            ("transactions", "bench.transactional_reads_app:app"),
            ("autocommit", "server.rsgi:app"),
        ):
            port = free_port()
            bound = {**env, "APP_BIND": f"127.0.0.1:{port}"}
            bases[side] = stack.enter_context(started([*granian, target], bound, port, cwd=ROOT))
        project = post_project(bases["autocommit"], "bench read")
        for n in range(20):  # a full page
            post_project(bases["autocommit"], f"bench page {n}")
        urls = {
            f"{kind}_{side}": f"{base}{path}"
            for kind, path in (("one", f"/api/v1/projects/{project}"), ("page", "/api/v1/projects"))
            for side, base in bases.items()
        }
        for url in urls.values():
            wrk_run(url, 1, args.connections, headers=AUTH)
        for n in range(args.rounds):
            for name, url in urls.items():
                result = wrk_run(url, args.seconds, args.connections, headers=AUTH)
                rps[name].append(result.rps)
                errors += result.errors
                line = f"{result.rps:8.0f} req/s  p99 {result.p99_ms:6.1f} ms"
                print(f"round {n + 1}  {name:18} {line}", flush=True)
    med = {name: statistics.median(values) for name, values in rps.items()}
    print(f"\nmedians over {args.rounds} rounds of {args.seconds:g} s, {args.connections} conns:")
    for name, value in med.items():
        print(f"  {name:18} {value:8.0f} req/s  worst round {min(rps[name]):8.0f}")
    if errors:
        print(f"errors: {errors}")
    one = med["one_autocommit"] / med["one_transactions"]
    page = med["page_autocommit"] / med["page_transactions"]
    print(f"autocommit/transactions: one={one:.2f} page={page:.2f}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
