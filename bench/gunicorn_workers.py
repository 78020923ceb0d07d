"""Why the gunicorn defaults are 2 sync workers: keep-alive throughput and its spread per worker
configuration, and time to the first answer by worker count, measured in one run.

    python -m bench.gunicorn_workers [--runs 6] [--seconds 4]

Serves /health/live (no database or Redis needed) with the server's own gunicorn config and
measures, with wrk (keep-alive, 32 connections):
- requests/s of each configuration over several runs: min, median, max and max/min. A bimodal
  configuration shows a max/min near 3 (one worker holding every keep-alive connection);
- seconds from starting gunicorn to the first 200, for 1, 2 and 5 sync workers.
"""

from __future__ import annotations

import argparse
import statistics

from bench import first_line
from bench.servers_for_bench import app_env, gunicorn, wrk

CONFIGS = {
    "sync x2 (default)": {"APP_WORKER_CLASS": "sync", "APP_WORKERS": "2"},
    "gthread 2x4": {"APP_WORKER_CLASS": "gthread", "APP_WORKERS": "2", "APP_THREADS": "4"},
    "gthread 1x8": {"APP_WORKER_CLASS": "gthread", "APP_WORKERS": "1", "APP_THREADS": "8"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    # Never contacted: /health/live touches neither.
    env = app_env("postgresql+psycopg2://nobody@127.0.0.1:9/none", "redis://127.0.0.1:9/0")

    print(f"keep-alive throughput, {args.runs} runs of {args.seconds}s, 32 connections:")
    for name, extra in CONFIGS.items():
        rates = []
        for _ in range(args.runs):
            # A fresh server per run: which worker wins the connections is decided at connect time.
            with gunicorn("server.wsgi:app", {**env, **extra}) as (base, _):
                rates.append(wrk(f"{base}/health/live", args.seconds, 32))
        print(
            f"  {name:18} min {min(rates):7.0f}  median {statistics.median(rates):7.0f}  "
            f"max {max(rates):7.0f} req/s  max/min {max(rates) / min(rates):4.2f}",
            flush=True,
        )

    print("\nstart to first 200 (sync workers):")
    for workers in (1, 2, 5):
        times = []
        for _ in range(args.runs):
            with gunicorn("server.wsgi:app", {**env, "APP_WORKERS": str(workers)}) as (_, ready):
                times.append(ready)
        print(
            f"  {workers} worker(s): median {statistics.median(times):.2f}s  max {max(times):.2f}s"
        )


if __name__ == "__main__":
    main()
