"""What authentication costs per request: the same cheap public endpoint with and without a
valid bearer token, through gunicorn, in alternating rounds.

`/docs/init.js` does the same work either way except the gate's identify step: parse the
header, one indexed token lookup in PostgreSQL (joined with its principal), an HMAC-SHA256
and a constant-time compare, and the rate-limit counter keyed by principal instead of address.
The difference of the two latencies is the price of authentication; the ratio is printed
against the unauthenticated baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics

from bench import first_line
from bench.servers_for_bench import AUTH, backends, gunicorn, migrated_env, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    with backends() as (pg, redis):
        env = migrated_env(pg, redis.url, "bench_auth_cost")
        results: dict[str, list[float]] = {"anonymous": [], "with token": []}
        with gunicorn("server.wsgi:app", env) as (server, _):
            url = f"{server}/docs/init.js"
            for n in range(args.rounds):
                for name, headers in (("anonymous", None), ("with token", AUTH)):
                    rps = wrk(url, args.seconds, args.connections, headers=headers)
                    results[name].append(rps)
                    print(f"round {n + 1}  {name:10} {rps:9.0f} req/s", flush=True)
    base = statistics.median(results["anonymous"])
    authed = statistics.median(results["with token"])
    print(f"\nmedian over {args.rounds} rounds of {args.seconds}s, {args.connections} connections:")
    print(f"  anonymous   {base:9.0f} req/s  (baseline)")
    print(f"  with token  {authed:9.0f} req/s  {authed / base:.2f}x")
    # Per request of one worker's time: connections are spread over the workers.
    cost_ms = (1 / authed - 1 / base) * 1000
    print(f"  authentication costs about {cost_ms:.3f} ms of server capacity per request")


if __name__ == "__main__":
    main()
