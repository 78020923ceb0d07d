"""Mixed read/write load through the production server, with a /health/live baseline from the
same run.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.load [--seconds 60] [--connections 50] [--workers N] [--threads N]

Starts a throwaway PostgreSQL and Redis, migrates, then ``flask-nix-stack serve`` (granian by
default; APP_SERVER=gunicorn in the environment for gunicorn) in the production profile, rate
limit far above the load. Seeds projects and tasks, then for
``--seconds`` each of ``--connections`` client threads sends a weighted mix (list and read
tasks, list projects, create and update tasks) to 127.0.0.1 only; afterwards the same number
of threads hit ``/health/live`` for the same time: the ceiling of this client and server on
this machine, so the API's figures can be read against it. Prints requests/s, p50/p99 latency
per operation and overall, the cache hit share, and the error count (any non-2xx or failed
request); exits 1 if there were errors.

The client is Python threads with http.client, keeping connections alive where the server
does (gunicorn's sync workers close after each answer: a new TCP connection per request).
The client shares the 2 cores with the server: compare against the baseline, not
against other machines.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import first_line
from bench.servers_for_bench import AUTH, BIN, ROOT, backends, migrated_env, started

from support.servers import free_port

TIMEOUT = 10.0
STATUSES = ("todo", "doing", "done")


@dataclass
class Sample:
    """One operation type's outcomes."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    hits: int = 0
    error_examples: list[str] = field(default_factory=list)


@dataclass
class Seeded:
    projects: list[int]
    tasks: list[int]


class Client:
    """One connection's worth of requests; reconnects when the server closes."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes, str | None]:
        headers = dict(AUTH)  # the API needs a token (the health baseline ignores it)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # next request opens a new connection
            raise
        if response.will_close:
            self.conn.close()
        return response.status, payload, response.getheader("X-Cache")


Operation = Callable[[Client, random.Random, list[int]], tuple[int, bytes, str | None]]


def mixed_operations(seeded: Seeded, write_percent: int) -> dict[str, tuple[float, Operation]]:
    """Operation name -> (weight, function). Writes touch only the thread's own tasks."""

    def list_tasks(c: Client, r: random.Random, _own: list[int]) -> tuple[int, bytes, str | None]:
        status = r.choice(STATUSES)
        return c.request("GET", f"/api/v1/tasks?limit=20&offset={r.randrange(100)}&status={status}")

    def get_task(c: Client, r: random.Random, _own: list[int]) -> tuple[int, bytes, str | None]:
        return c.request("GET", f"/api/v1/tasks/{r.choice(seeded.tasks)}")

    def list_projects(
        c: Client, r: random.Random, _own: list[int]
    ) -> tuple[int, bytes, str | None]:
        return c.request("GET", f"/api/v1/projects?limit=20&offset={r.randrange(10)}")

    def create_task(c: Client, r: random.Random, own: list[int]) -> tuple[int, bytes, str | None]:
        body = {
            "project_id": r.choice(seeded.projects),
            "title": f"load {r.getrandbits(32):08x}",
            "tags": [f"tag{r.randrange(20)}"],
        }
        answer = c.request("POST", "/api/v1/tasks", body)
        if answer[0] == 201:
            own.append(json.loads(answer[1])["id"])
        return answer

    def update_task(c: Client, r: random.Random, own: list[int]) -> tuple[int, bytes, str | None]:
        if not own:
            return create_task(c, r, own)
        return c.request("PATCH", f"/api/v1/tasks/{r.choice(own)}", {"status": r.choice(STATUSES)})

    reads = (100 - write_percent) / 80  # the read weights below add up to 80
    return {
        "list tasks": (35 * reads, list_tasks),
        "get task": (30 * reads, get_task),
        "list projects": (15 * reads, list_projects),
        "create task": (write_percent / 2, create_task),
        "update task": (write_percent / 2, update_task),
    }


def live_operation() -> dict[str, tuple[float, Operation]]:
    def live(c: Client, _r: random.Random, _own: list[int]) -> tuple[int, bytes, str | None]:
        return c.request("GET", "/health/live")

    return {"GET /health/live": (1, live)}


def run_load(
    port: int,
    operations: dict[str, tuple[float, Operation]],
    seconds: float,
    connections: int,
    seed: int,
) -> tuple[dict[str, Sample], float]:
    """Each thread loops over weighted operations until the deadline; (samples, elapsed)."""
    names = list(operations)
    weights = [operations[n][0] for n in names]
    per_thread: list[dict[str, Sample]] = [defaultdict(Sample) for _ in range(connections)]
    start_gate = threading.Barrier(connections + 1)
    deadline = [0.0]

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = Client(port)
        own: list[int] = []
        samples = per_thread[index]
        start_gate.wait()
        while (now := time.perf_counter()) < deadline[0]:
            name = rng.choices(names, weights)[0]
            sample = samples[name]
            try:
                status, body, cache = operations[name][1](client, rng, own)
            except (OSError, http.client.HTTPException) as exc:
                sample.errors += 1
                if len(sample.error_examples) < 3:
                    sample.error_examples.append(repr(exc))
                continue
            sample.latencies.append(time.perf_counter() - now)
            if not 200 <= status < 300:
                sample.errors += 1
                if len(sample.error_examples) < 3:
                    sample.error_examples.append(f"{status} {body[:200]!r}")
            if cache == "hit":
                sample.hits += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_gate.wait()
    for thread in threads:
        thread.join(timeout=seconds + TIMEOUT * 3)
    elapsed = time.perf_counter() - began
    merged: dict[str, Sample] = defaultdict(Sample)
    for samples in per_thread:
        for name, sample in samples.items():
            total = merged[name]
            total.latencies += sample.latencies
            total.errors += sample.errors
            total.hits += sample.hits
            total.error_examples += sample.error_examples[: 3 - len(total.error_examples)]
    return dict(merged), elapsed


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(share * len(sorted_values)) - 1))
    return sorted_values[rank]


def report(title: str, samples: dict[str, Sample], elapsed: float) -> tuple[float, int, float]:
    """Print one table; (requests/s overall, errors, p99 seconds overall)."""
    print(f"\n{title} ({elapsed:.1f} s)")
    print(
        f"{'operation':<18}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'cache hit':>10}{'errors':>8}"
    )
    rows = dict(sorted(samples.items()))
    everything = Sample()
    for sample in rows.values():
        everything.latencies += sample.latencies
        everything.errors += sample.errors
        everything.hits += sample.hits
    rows["all"] = everything
    for name, sample in rows.items():
        values = sorted(sample.latencies)
        count = len(values)
        hit_share = f"{100 * sample.hits / count:.0f}%" if count else "-"
        print(
            f"{name:<18}{count:>10}{count / elapsed:>9.1f}"
            f"{1000 * percentile(values, 0.50):>9.1f}{1000 * percentile(values, 0.99):>9.1f}"
            f"{1000 * (values[-1] if values else float('nan')):>9.1f}{hit_share:>10}"
            f"{sample.errors:>8}"
        )
    for name, sample in samples.items():
        for example in sample.error_examples:
            print(f"  error in {name}: {example}")
    p99 = percentile(sorted(everything.latencies), 0.99)
    return len(everything.latencies) / elapsed, everything.errors, p99


def seed_data(port: int, projects: int, tasks: int) -> Seeded:
    client = Client(port)
    project_ids = []
    for n in range(projects):
        status, body, _ = client.request("POST", "/api/v1/projects", {"name": f"load {n}"})
        assert status == 201, body
        project_ids.append(json.loads(body)["id"])
    task_ids = []
    for n in range(tasks):
        status, body, _ = client.request(
            "POST",
            "/api/v1/tasks",
            {
                "project_id": project_ids[n % projects],
                "title": f"seed {n}",
                "status": STATUSES[n % 3],
                "tags": [f"tag{n % 20}"],
            },
        )
        assert status == 201, body
        task_ids.append(json.loads(body)["id"])
    return Seeded(project_ids, task_ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (60)")
    parser.add_argument("--connections", type=int, default=50, help="client threads (50)")
    parser.add_argument(
        "--baseline-seconds", type=float, help="baseline duration (default: --seconds)"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured warm-up (2)")
    parser.add_argument("--workers", type=int, help="APP_WORKERS (default: the server's)")
    parser.add_argument("--threads", type=int, help="APP_THREADS (default: the server's)")
    parser.add_argument(
        "--write-percent",
        type=int,
        default=20,
        help="share of writes (20); each write drops the cached reads it changes",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not 0 < args.seconds <= 600 or not 0 < args.connections <= 500:
        parser.error("--seconds must be in (0, 600] and --connections in (0, 500]")
    if not 0 <= args.write_percent <= 100:
        parser.error("--write-percent must be in [0, 100]")

    with backends() as (pg, redis):
        extra = {"APP_WORKERS": str(args.workers)} if args.workers else {}
        if args.threads:
            extra["APP_THREADS"] = str(args.threads)
        env = migrated_env(pg, redis.url, "bench_load", **extra)
        port = free_port()
        serve = [str(BIN / "flask-nix-stack"), "serve"]
        with started(serve, {**env, "APP_BIND": f"127.0.0.1:{port}"}, port, cwd=ROOT):
            seeded = seed_data(port, projects=20, tasks=400)
            mix = mixed_operations(seeded, args.write_percent)
            if args.warmup > 0:
                run_load(port, mix, args.warmup, args.connections, args.seed + 1)
            samples, elapsed = run_load(port, mix, args.seconds, args.connections, args.seed)
            baseline, baseline_elapsed = run_load(
                port,
                live_operation(),
                args.baseline_seconds or args.seconds,
                args.connections,
                args.seed,
            )

    workers = args.workers or "default (APP_WORKERS)"
    threads = args.threads or "default (APP_THREADS)"
    server = os.environ.get("APP_SERVER", "granian")
    print(
        f"{server} workers: {workers}; threads: {threads}; {args.connections} connections; "
        "127.0.0.1"
    )
    rate, errors, p99 = report(f"mixed API load, {args.write_percent}% writes", samples, elapsed)
    base_rate, base_errors, base_p99 = report(
        "baseline: GET /health/live", baseline, baseline_elapsed
    )
    print(f"\nmixed API throughput = {rate / base_rate:.2f} x the /health/live baseline (>= 0.3)")
    print(f"mixed API p99 = {p99 / base_p99:.2f} x the baseline's p99 (<= 2)")
    print(f"errors: {errors} (mixed), {base_errors} (baseline)")
    return 1 if errors or base_errors else 0


if __name__ == "__main__":
    sys.exit(main())
