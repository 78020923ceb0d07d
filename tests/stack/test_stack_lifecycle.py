"""The whole stack under process-compose: start, serve the API, stop cleanly, start again."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from support.cli_runner import run_cli_in_process

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def assert_stopped_cleanly(stack: Any, code: int) -> None:
    assert code == 0, f"process-compose exited {code}:\n{stack.log()}"
    assert stack.leftovers(grace=2.0) == [], f"processes outlived the stack:\n{stack.log()}"
    pid_file = stack.data_dir / "postgres" / "postmaster.pid"
    assert not pid_file.exists(), "postgres left postmaster.pid behind: not a clean shutdown"


def test_prod_stack_serves_stops_and_keeps_data(stack: Any, stack_http: Any) -> None:
    """prod mode (the production server, granian): API round trip, SIGTERM leaves nothing
    behind, data survives a restart."""
    s = stack(web_mode="prod")
    s.start()
    s.wait_ready()

    status, project = stack_http("POST", f"{s.base_url}/api/v1/projects", {"name": "stack"})
    assert status == 201, project
    body = {"project_id": project["id"], "title": "survive a restart", "tags": ["stack"]}
    status, task = stack_http("POST", f"{s.base_url}/api/v1/tasks", body)
    assert status == 201, task
    status, read = stack_http("GET", f"{s.base_url}/api/v1/tasks/{task['id']}")
    assert (status, read["title"], read["tags"]) == (200, "survive a restart", ["stack"])
    assert "Starting granian" in s.log(tail=10_000)
    running = " ".join(cmd for _, cmd in s.leftovers())
    assert "postgres" in running, "the process scan sees no postgres"
    assert "redis-server" in running, "the process scan sees no redis"

    assert_stopped_cleanly(s, s.stop())
    order = s.exit_order()
    assert order.index("web") < order.index("postgres"), order
    assert order.index("web") < order.index("redis"), order

    # Warm start: pg-init skips initdb, migrate finds the schema current, the rows are there.
    s.start()
    s.wait_ready()
    status, again = stack_http("GET", f"{s.base_url}/api/v1/projects/{project['id']}")
    assert (status, again["name"], again["task_count"]) == (200, "stack", 1)
    assert "creating subdirectories" not in s.log(tail=10_000), "initdb ran on existing data"
    assert_stopped_cleanly(s, s.stop())


def test_dev_stack_reloads_and_seeds_on_request(
    stack: Any, stack_http: Any, stack_poll: Any
) -> None:
    """dev mode runs Flask's reloader; `up web seed` adds the demo data, plain `up` does not."""
    s = stack(web_mode="dev")
    s.start()
    s.wait_ready()
    status, page = stack_http("GET", f"{s.base_url}/api/v1/projects")
    assert (status, page["total"]) == (200, 0), "seed ran although it is disabled by default"
    assert "Debugger is active" in s.log(tail=10_000)
    assert_stopped_cleanly(s, s.stop())

    s.start("web", "seed")
    s.wait_ready()

    def names() -> list[str]:
        status, page = stack_http("GET", f"{s.base_url}/api/v1/projects")
        assert status == 200, page
        return [p["name"] for p in page["items"]]

    # seed and web both wait only for migrate, so the data may land just after web is ready.
    assert stack_poll(lambda: names() == ["Demo"], timeout=30), f"no demo data:\n{s.log()}"

    # The README's first authenticated curl: `flask-nix-stack seed` prints the demo token.
    # Run in this process (support/cli_runner.py): what is checked is what the command
    # prints, not the start of a process (the stack's own seed process was one).
    seeded = run_cli_in_process(
        "seed",
        env={
            **s.env(),
            "APP_DATABASE_URL": f"postgresql+psycopg2://app@127.0.0.1:{s.pg_port}/app",
            "APP_REDIS_URL": f"redis://127.0.0.1:{s.redis_port}/0",
        },
    )
    token = seeded.stdout.strip()
    request = urllib.request.Request(
        f"{s.base_url}/api/v1/projects", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert [p["name"] for p in json.load(answer)["items"]] == ["Demo"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s.base_url}/api/v1/projects", timeout=5)
    assert refused.value.code == 401
    refused.value.close()
    assert_stopped_cleanly(s, s.stop())
