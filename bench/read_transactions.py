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
Each round also takes the CPU time the side's server processes and PostgreSQL's spent (from
/proc) over its requests: on a machine loaded by other work, that moves less than requests/s.
Prints every round, the medians, and last the ratios of autocommit over transactions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

from bench import first_line
from bench.servers_for_bench import (
    AUTH,
    ROOT,
    backends,
    migrated_env,
    post_project,
    started,
    wrk_run,
)

from support.processes import child_pids
from support.servers import free_port

TICKS = os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    rps: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)  # µs a request: the app's, PostgreSQL's
    errors = 0
    with backends() as (pg, redis), ExitStack() as stack:
        env = migrated_env(pg, redis.url, "bench_read_transactions", APP_CACHE_ENABLED="false")
        granian = [sys.executable, "-m", "bench.granian_target"]
        bases, servers = {}, {}
        for side, target in (
            ("transactions", "bench.transactional_reads_app:app"),
            ("autocommit", "server.rsgi:app"),
        ):
            port = free_port()
            bound = {**env, "APP_BIND": f"127.0.0.1:{port}"}
            bases[side] = stack.enter_context(started([*granian, target], bound, port, cwd=ROOT))
            servers[side] = child_running(target)
        assert pg.process is not None
        project = post_project(bases["autocommit"], "bench read")
        for n in range(20):  # a full page
            post_project(bases["autocommit"], f"bench page {n}")
        urls = {
            (kind, side): f"{base}{path}"
            for kind, path in (("one", f"/api/v1/projects/{project}"), ("page", "/api/v1/projects"))
            for side, base in bases.items()
        }
        for url in urls.values():
            wrk_run(url, 1, args.connections, headers=AUTH)
        for n in range(args.rounds):
            for (kind, side), url in urls.items():
                name = f"{kind}_{side}"
                before = cpu_seconds(servers[side]), cpu_seconds(pg.process.pid)
                result = wrk_run(url, args.seconds, args.connections, headers=AUTH)
                after = cpu_seconds(servers[side]), cpu_seconds(pg.process.pid)
                requests = result.rps * args.seconds
                app_us, pg_us = (
                    (b - a) / requests * 1e6 for a, b in zip(before, after, strict=True)
                )
                rps[name].append(result.rps)
                cpu[f"{name}_app"].append(app_us)
                cpu[f"{name}_pg"].append(pg_us)
                errors += result.errors
                line = (
                    f"{result.rps:8.0f} req/s  p99 {result.p99_ms:6.1f} ms  "
                    f"CPU µs/request: app {app_us:5.0f}, PostgreSQL {pg_us:4.0f}"
                )
                print(f"round {n + 1}  {name:18} {line}", flush=True)
    med = {name: statistics.median(values) for name, values in rps.items()}
    med_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"\nmedians over {args.rounds} rounds of {args.seconds:g} s, {args.connections} conns:")
    for name, value in med.items():
        print(
            f"  {name:18} {value:8.0f} req/s  worst round {min(rps[name]):8.0f}  CPU µs/request: "
            f"app {med_cpu[name + '_app']:5.0f}, PostgreSQL {med_cpu[name + '_pg']:4.0f}"
        )
    if errors:
        print(f"errors: {errors}")
    ratios = {
        kind: med[f"{kind}_autocommit"] / med[f"{kind}_transactions"] for kind in ("one", "page")
    }
    cpu_ratios = {
        kind: (med_cpu[f"{kind}_autocommit_app"] + med_cpu[f"{kind}_autocommit_pg"])
        / (med_cpu[f"{kind}_transactions_app"] + med_cpu[f"{kind}_transactions_pg"])
        for kind in ("one", "page")
    }
    print(
        "autocommit/transactions: "
        + " ".join(f"{kind}={value:.2f}" for kind, value in ratios.items())
        + "  CPU per request: "
        + " ".join(f"{kind}={value:.2f}" for kind, value in cpu_ratios.items())
    )
    return 1 if errors else 0


def child_running(target: str) -> int:
    """The pid of this process's child serving ``target``."""
    for pid in child_pids(os.getpid()):
        with contextlib.suppress(OSError):
            if target in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
    raise RuntimeError(f"no child serves {target}")


def cpu_seconds(root: int) -> float:
    """CPU time (user and system) of ``root`` and its live descendants, from /proc."""
    tree, grown = {root}, {root}
    while grown := set().union(*map(child_pids, grown)) - tree:
        tree |= grown
    total = 0.0
    for pid in tree:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


if __name__ == "__main__":
    sys.exit(main())
