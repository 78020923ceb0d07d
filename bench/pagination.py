"""Does a page cost the same at 20 thousand tasks as at 2 million? Per-page cost as ratios.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:$VENV/bin:$PATH \\
        python -m bench.pagination [--large 2000000] [--small 20000] [--repeat 15]

Starts PostgreSQL and Redis, fills two databases with generate_series (tasks spread over
projects, one in ten per project; three states; every fifth task tagged), and times list
requests through the app in-process (the test client, cache off, so each request reaches the
database). Prints the median per page at each size and the ratio large/small; the target is a
ratio near 1 (at most 2x) for every page. Totals are counted up to 10000, so a small table
under that cap counts fewer rows than a large one: compare at --small 200000 to see pages
whose cost no longer moves at all.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from bench.servers_for_bench import backends
from server.infra import migration_commands
from server.infra.database import db
from tests.support.apps import build_app
from tests.support.settings import make_settings

TARGET = 2.0
FILL = """
INSERT INTO projects (name) SELECT 'project-' || n FROM generate_series(1, :projects) AS n;
INSERT INTO tasks (project_id, title, status)
  SELECT 1 + n % :projects, 'task-' || n, (ARRAY['todo', 'doing', 'done'])[1 + n % 3]
  FROM generate_series(1, :tasks) AS n;
INSERT INTO tags (name) VALUES ('red'), ('blue');
INSERT INTO task_tags (task_id, tag_id)
  SELECT id, (SELECT id FROM tags WHERE name = 'red') FROM tasks WHERE id % 5 = 0;
"""


def build(pg_url: str, redis_url: str, tasks: int) -> Flask:
    # No statement timeout: loading millions of rows takes longer than a request may.
    settings = make_settings(pg_url, redis_url, cache_enabled=False, db_statement_timeout_ms=0)
    app = build_app(settings)
    migration_commands.init_app(app)
    with app.app_context():
        upgrade()
        started = time.monotonic()
        db.session.execute(text(FILL), {"projects": max(tasks // 10, 1), "tasks": tasks})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        print(f"  {tasks:>9} tasks loaded in {time.monotonic() - started:.1f}s", flush=True)
    return app


def pages(tasks: int) -> dict[str, str]:
    """The pages timed: first pages, deep pages by after, the deepest offset, filters."""
    projects = max(tasks // 10, 1)
    return {
        "projects, 1 item": "/api/v1/projects?limit=1",
        "projects, 20 items": "/api/v1/projects?limit=20",
        "projects after the last 20": f"/api/v1/projects?limit=20&after={projects - 20}",
        "tasks, 20 items": "/api/v1/tasks?limit=20",
        "tasks after the last 20": f"/api/v1/tasks?limit=20&after={tasks - 20}",
        "tasks at offset 10000": "/api/v1/tasks?limit=20&offset=10000",
        "tasks of a project": "/api/v1/tasks?limit=20&project_id=7",
        "tasks done, after half": f"/api/v1/tasks?limit=20&status=done&after={tasks // 2}",
        "tasks tagged red": "/api/v1/tasks?limit=20&tag=red",
        "tasks tagged red, after half": f"/api/v1/tasks?limit=20&tag=red&after={tasks // 2}",
    }


def timed(call: Callable[[], object], repeat: int) -> float:
    call()  # warm: connection, plan cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(app: Flask, tasks: int, repeat: int) -> dict[str, float]:
    client = app.test_client()
    results = {}
    for name, url in pages(tasks).items():

        def get(url: str = url) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.json)

        results[name] = timed(get, repeat)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    with backends() as (pg, redis):
        print("loading:", flush=True)
        small = build(pg.create_database("bench_pages_small"), redis.url, args.small)
        large = build(pg.create_database("bench_pages_large"), redis.url, args.large)
        with small.app_context():
            at_small = measure(small, args.small, args.repeat)
        with large.app_context():
            at_large = measure(large, args.large, args.repeat)

    print(f"\nmedian ms per page over {args.repeat} requests ({args.small} vs {args.large} tasks):")
    worst = 0.0
    for name in at_small:
        ratio = at_large[name] / at_small[name]
        worst = max(worst, ratio)
        print(
            f"  {name:28} {at_small[name] * 1000:7.1f} {at_large[name] * 1000:7.1f}  {ratio:5.2f}x"
        )
    verdict = "ok" if worst <= TARGET else "ABOVE TARGET"
    print(f"worst ratio {worst:.2f}x (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
