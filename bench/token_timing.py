"""Does the token lookup tell an attacker which prefixes exist? Timing of tokens.lookup().

In-process against a real PostgreSQL, many alternating calls each of:
- a well-formed token whose prefix exists, with a wrong secret;
- a well-formed token whose prefix does not exist;
- a valid token (for scale).
Both failures run the same query (one row back either way: the token's id and hash, or a
dummy), the same HMAC and the same constant-time compare; what remains is PostgreSQL fetching
an existing row from the heap. That much is what the prefix design implies: the prefix is
public by design (operators see it in listings), and knowing one still leaves 256 bits of
secret. Prints medians and their ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import first_line
from bench.servers_for_bench import backends
from server import create_app
from server.auth import tokens
from server.auth.tokens import key_from_settings
from server.config import load_settings
from server.infra import migration_commands
from server.infra.database import db
from server.services import principals


def main() -> None:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    with backends() as (pg, redis):
        settings = load_settings(
            environ={"APP_ENV_FILE": "/nonexistent"},
            database_url=pg.create_database("bench_token_timing"),
            redis_url=redis.url,
        )
        app = create_app(settings)
        migration_commands.init_app(app)
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            key = key_from_settings(settings)
            owner = principals.create_principal("timing")
            for _ in range(200):  # a table with some rows, not a single one
                principals.issue_token(key, owner, {"read"})
            valid = principals.issue_token(key, owner, {"read"}).value
            prefix = valid.split("_")[1]
            cases = {
                "existing prefix, wrong secret": f"fns_{prefix}_" + "A" * 43,
                "unknown prefix": "fns_zzzzzzzz_" + "A" * 43,
                "valid token": valid,
            }
            timings: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.calls):
                for name, token in cases.items():
                    start = time.perf_counter_ns()
                    tokens.lookup(key, token)
                    timings[name].append(time.perf_counter_ns() - start)
                    db.session.rollback()
    unknown = statistics.median(timings["unknown prefix"])
    print(f"{args.calls} calls each, median and p90 of tokens.lookup():")
    for name, values in timings.items():
        values.sort()
        median = statistics.median(values)
        p90 = values[int(len(values) * 0.9)]
        print(
            f"  {name:30} {median / 1000:8.1f} us  p90 {p90 / 1000:8.1f} us  "
            f"{median / unknown:.2f}x of unknown prefix"
        )


if __name__ == "__main__":
    main()
