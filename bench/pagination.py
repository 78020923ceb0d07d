"""Does a page cost the same at 20 thousand tasks as at 2 million? Per-page cost as ratios.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.pagination [--large 2000000] [--small 20000] [--repeat 15]

Starts PostgreSQL and Redis, fills two databases with generate_series (two owners, alice and
bob, with alternate projects; ten tasks per project; three states; every fifth task tagged red
by its owner, every seventh blue, ten tasks per owner tagged rare), and times list requests
through the app in-process (the test client, cache off, so each request reaches the database),
as alice with a read token (row isolation adds her owner condition to every query) and, for
the lists that differ, as an admin who sees both owners. Every filter the list endpoints accept
is timed, alone and combined. Prints the median per page at each size and the ratio
large/small; the target is a ratio near 1 (at most 2x) for every page. Totals are counted up to
10000, so a small table under that cap counts fewer rows than a large one: compare at
--small 200000 to see pages whose cost no longer moves at all.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from bench import first_line
from bench.servers_for_bench import backends
from server.auth.actor import ADMIN, READ
from server.auth.tokens import key_from_settings
from server.infra import migration_commands
from server.infra.database import db
from server.services import principals

from support.apps import build_app
from support.settings import make_settings

TARGET = 2.0
OWNERS = ("alice", "bob")
# Principals exist before this runs (their tokens are made through the service); projects
# alternate between the two owners, and each owner tags its own tasks with its own tags.
FILL = """
INSERT INTO projects (name, owner_id)
  SELECT 'project-' || n, principals.id FROM generate_series(1, :projects) AS n
  JOIN principals ON principals.name = (ARRAY['alice', 'bob'])[1 + n % 2];
INSERT INTO tasks (project_id, title, status)
  SELECT 1 + n % :projects, 'task-' || n, (ARRAY['todo', 'doing', 'done'])[1 + n % 3]
  FROM generate_series(1, :tasks) AS n;
INSERT INTO tags (name, owner_id)
  SELECT tag, principals.id FROM principals, unnest(ARRAY['red', 'blue', 'rare']) AS tag
  WHERE principals.name IN ('alice', 'bob');
INSERT INTO task_tags (task_id, tag_id)
  SELECT tasks.id, tags.id FROM tasks
  JOIN projects ON projects.id = tasks.project_id
  JOIN tags ON tags.owner_id = projects.owner_id
  WHERE (tags.name = 'red' AND tasks.id % 5 = 0) OR (tags.name = 'blue' AND tasks.id % 7 = 0)
     OR (tags.name = 'rare' AND tasks.id % (:tasks / 10) < 20);
"""


def build(pg_url: str, redis_url: str, tasks: int) -> tuple[Flask, dict[str, str]]:
    """The app over a database filled with ``tasks`` tasks, and a token per reader."""
    # No statement timeout: loading millions of rows takes longer than a request may.
    settings = make_settings(pg_url, redis_url, cache_enabled=False, db_statement_timeout_ms=0)
    app = build_app(settings)
    migration_commands.init_app(app)
    with app.app_context():
        upgrade()
        key = key_from_settings(settings)
        tokens = {}
        for name in (*OWNERS, "admin"):
            admin = name == "admin"
            principal = principals.create_principal(name, admin=admin)
            scopes = {READ, ADMIN} if admin else {READ}
            tokens[name] = principals.issue_token(key, principal, scopes).value
        started = time.monotonic()
        db.session.execute(text(FILL), {"projects": max(tasks // 10, 1), "tasks": tasks})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        print(f"  {tasks:>9} tasks loaded in {time.monotonic() - started:.1f}s", flush=True)
    return app, tokens


def pages(tasks: int) -> dict[str, tuple[str, str]]:
    """The pages timed, each with its reader: first pages, deep pages by after, the deepest
    offset, and every filter of the list endpoints, alone and combined."""
    projects = max(tasks // 10, 1)
    tasks_url = "/api/v1/tasks?limit=20"
    half = f"after={tasks // 2}"
    return {
        "projects, 1 item": ("alice", "/api/v1/projects?limit=1"),
        "projects, 20 items": ("alice", "/api/v1/projects?limit=20"),
        "projects after the last 20": ("alice", f"/api/v1/projects?limit=20&after={projects - 40}"),
        "projects at offset 500": ("alice", "/api/v1/projects?limit=20&offset=500"),
        "projects named like 7": ("alice", "/api/v1/projects?limit=20&name=7"),
        "projects named like nothing": ("alice", "/api/v1/projects?limit=20&name=zz"),
        "projects, admin": ("admin", "/api/v1/projects?limit=20"),
        "tasks, 20 items": ("alice", tasks_url),
        "tasks after the last 20": ("alice", f"{tasks_url}&after={tasks - 40}"),
        "tasks at offset 5000": ("alice", f"{tasks_url}&offset=5000"),
        "tasks of a project": ("alice", f"{tasks_url}&project_id=8"),
        "tasks of a project, done": ("alice", f"{tasks_url}&project_id=8&status=done"),
        "tasks done": ("alice", f"{tasks_url}&status=done"),
        "tasks done, after half": ("alice", f"{tasks_url}&status=done&{half}"),
        "tasks tagged red": ("alice", f"{tasks_url}&tag=red"),
        "tasks tagged red, after half": ("alice", f"{tasks_url}&tag=red&{half}"),
        "tasks tagged rare": ("alice", f"{tasks_url}&tag=rare"),
        "tasks tagged red, done": ("alice", f"{tasks_url}&tag=red&status=done"),
        "tasks tagged red, of a project": ("alice", f"{tasks_url}&tag=red&project_id=6"),
        "tasks tagged, project, done": ("alice", f"{tasks_url}&tag=red&project_id=6&status=done"),
        "tasks, admin": ("admin", tasks_url),
        "tasks done, admin": ("admin", f"{tasks_url}&status=done"),
        "tasks tagged red, admin": ("admin", f"{tasks_url}&tag=red"),
        "tasks tagged red, after half, admin": ("admin", f"{tasks_url}&tag=red&{half}"),
        "tasks tagged rare, admin": ("admin", f"{tasks_url}&tag=rare"),
        "tags": ("alice", "/api/v1/tags?limit=20"),
        "tags after blue": ("alice", "/api/v1/tags?limit=20&after=blue"),
        "principals, admin": ("admin", "/api/v1/admin/principals?limit=20"),
    }


def getter(app: Flask, tokens: dict[str, str], tasks: int, name: str) -> Callable[[], None]:
    """One request for page ``name`` of ``app``, checked."""
    reader, url = pages(tasks)[name]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens[reader]}"}
    empty = "nothing" in name

    def get() -> None:
        response = client.get(url, headers=headers)
        body = response.get_json()
        assert response.status_code == 200, (url, body)
        assert bool(body["items"]) != empty, (url, "items?")

    return get


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure(
    sizes: dict[str, tuple[Flask, dict[str, str], int]], repeat: int
) -> dict[str, dict[str, float]]:
    """Median seconds per page and size; the sizes alternate request by request, so both
    see the same load from the rest of the machine."""
    results: dict[str, dict[str, float]] = {size: {} for size in sizes}
    for name in pages(1):
        calls = {size: getter(app, tokens, n, name) for size, (app, tokens, n) in sizes.items()}
        for call in calls.values():
            call()  # warm: connection, plan cache
        samples: dict[str, list[float]] = {size: [] for size in sizes}
        for round_ in range(repeat):
            order = list(calls) if round_ % 2 == 0 else list(reversed(calls))
            for size in order:
                samples[size].append(timed(calls[size]))
        for size, values in samples.items():
            results[size][name] = statistics.median(values)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    with backends() as (pg, redis):
        print("loading:", flush=True)
        sizes = {
            "small": (
                *build(pg.create_database("bench_pages_small"), redis.url, args.small),
                args.small,
            ),
            "large": (
                *build(pg.create_database("bench_pages_large"), redis.url, args.large),
                args.large,
            ),
        }
        results = measure(sizes, args.repeat)
        at_small, at_large = results["small"], results["large"]

    print(
        f"\nmedian ms per page over {args.repeat} requests, alternating "
        f"({args.small} vs {args.large} tasks):"
    )
    worst = 0.0
    for name in at_small:
        ratio = at_large[name] / at_small[name]
        worst = max(worst, ratio)
        print(
            f"  {name:36} {at_small[name] * 1000:7.1f} {at_large[name] * 1000:7.1f}  {ratio:5.2f}x"
        )
    verdict = "ok" if worst <= TARGET else "ABOVE TARGET"
    print(f"worst ratio {worst:.2f}x (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
