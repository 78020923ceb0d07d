"""What the middleware, logging and validation cost per request, against a bare Flask app.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.hot_path [--seconds 10] [--rounds 3]

Starts PostgreSQL and Redis, then gunicorn with the server's own config (same workers,
worker class and access log) twice: serving a bare Flask hello-world, and serving the
server. wrk measures, in alternating rounds: hello-world `/`, the server's `/health/live`
(request id, security headers, limiter bookkeeping) and a cached read of
`/api/v1/projects/1` (the limiter's Redis call plus the cache's). Prints requests/s per round
and the ratio of medians. Targets: live >= 0.9x, cached read >= 0.7x of hello-world.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import urllib.request

from bench.servers_for_bench import AUTH, BIN, app_env, backends, gunicorn, wrk

TARGETS = {"live": 0.9, "cached read": 0.7}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    with backends() as (pg, redis):
        env = app_env(pg.create_database("bench_hot_path"), redis.url)
        subprocess.run(
            [str(BIN / "flask-nix-stack"), "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
        )
        results: dict[str, list[float]] = {"hello-world": [], "live": [], "cached read": []}
        with (
            gunicorn("hello_app:app", env) as (hello, _),
            gunicorn("server.wsgi:app", env) as (
                server,
                _,
            ),
        ):
            request = urllib.request.Request(
                f"{server}/api/v1/projects",
                data=json.dumps({"name": "bench"}).encode(),
                headers={"Content-Type": "application/json", **AUTH},
                method="POST",
            )
            project = json.load(urllib.request.urlopen(request))
            read = f"{server}/api/v1/projects/{project['id']}"
            urllib.request.urlopen(urllib.request.Request(read, headers=AUTH)).read()  # primes
            for n in range(args.rounds):
                for name, url in (
                    ("hello-world", f"{hello}/"),
                    ("live", f"{server}/health/live"),
                    ("cached read", read),
                ):
                    headers = AUTH if url == read else None
                    rps = wrk(url, args.seconds, args.connections, headers=headers)
                    results[name].append(rps)
                    print(f"round {n + 1}  {name:12} {rps:9.0f} req/s", flush=True)
    base = statistics.median(results["hello-world"])
    print(f"\nmedian over {args.rounds} rounds of {args.seconds}s, {args.connections} connections:")
    print(f"  hello-world  {base:9.0f} req/s  (baseline)")
    for name, target in TARGETS.items():
        value = statistics.median(results[name])
        verdict = "ok" if value / base >= target else "BELOW TARGET"
        print(f"  {name:12} {value:9.0f} req/s  {value / base:.2f}x  (target {target}x: {verdict})")


if __name__ == "__main__":
    main()
