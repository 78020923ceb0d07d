"""Failures are loud: a failed migration ends the run, a killed postgres is brought back."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.slow]
# What fails here is postgres or migrate, and how the stack answers it: one server worker is
# enough to see it (test_stack_lifecycle.py runs the server's default).
ONE_WORKER = 1


def ready_answers_until_exit(s: Any, http: Any, timeout: float = 60.0) -> set[int | None]:
    """The statuses /health/ready gave until process-compose exited (None: no answer)."""
    seen: set[int | None] = set()
    deadline = time.monotonic() + timeout
    while s.process.poll() is None and time.monotonic() < deadline:
        try:
            seen.add(http("GET", f"{s.base_url}/health/ready", timeout=1.0)[0])
        except (OSError, ValueError):
            seen.add(None)
        # Each answer is a readiness check in the server; a web that passes it wrongly
        # passes it on every request from then on, so ten a second see it as well as twenty.
        time.sleep(0.1)
    return seen


def test_failed_migration_keeps_web_unready_and_fails_the_run(stack: Any, stack_http: Any) -> None:
    """migrate pointed at a database that does not exist: web is never ready, exit non-zero."""
    s = stack(web_mode="prod", web_workers=ONE_WORKER)
    # An override file, merged by process-compose like any *.override.yaml: the last value of a
    # variable wins, so only migrate's database URL changes.
    override = s.data_dir / "broken-migrate.yaml"
    override.write_text(
        "processes:\n"
        "  migrate:\n"
        "    environment:\n"
        f'      - "APP_DATABASE_URL=postgresql+psycopg2://app@127.0.0.1:{s.pg_port}/no_such_db"\n'
    )
    s.start(extra_files=[override])
    answers = ready_answers_until_exit(s, stack_http)
    code = s.wait_exit()
    log = s.log(tail=10_000)

    assert code != 0, f"process-compose exited 0 after a failed migration:\n{log}"
    assert 'database "no_such_db" does not exist' in log, log
    # web boots beside migrate, but is never ready on a schema that is not at head.
    assert 200 not in answers, f"web was ready although migrate failed:\n{log}"
    assert s.leftovers(grace=2.0) == [], "processes outlived the failed run"
    assert not (s.data_dir / "postgres" / "postmaster.pid").exists()


def test_failed_postgres_fails_the_run(stack: Any, stack_http: Any) -> None:
    """A data dir postgres cannot use: restarts run out, migrate is skipped, exit is non-zero."""
    s = stack(web_mode="prod", web_workers=ONE_WORKER)
    # A cluster directory that claims to be one but is not: pg-init skips initdb, postgres dies.
    pgdata = s.data_dir / "postgres"
    pgdata.mkdir(mode=0o700)
    (pgdata / "PG_VERSION").write_text("15\n")
    (pgdata / "stack-init.done").touch()
    s.start()
    answers = ready_answers_until_exit(s, stack_http, timeout=120)
    code = s.wait_exit(timeout=120)
    log = s.log(tail=10_000)

    assert code != 0, f"process-compose exited 0 although postgres never started:\n{log}"
    assert "could not access the server configuration file" in log, log
    assert 200 not in answers, log
    assert s.leftovers(grace=2.0) == []


def test_killed_postgres_is_restarted_and_the_api_recovers(
    stack: Any, stack_http: Any, stack_poll: Any
) -> None:
    """SIGKILL to the postmaster: process-compose restarts it and the API serves writes again."""
    s = stack(web_mode="prod", web_workers=ONE_WORKER)
    s.start()
    s.wait_ready()
    pid_file: Path = s.data_dir / "postgres" / "postmaster.pid"
    old_pid = int(pid_file.read_text().split()[0])

    os.kill(old_pid, signal.SIGKILL)

    def new_postmaster() -> bool:
        try:
            return int(pid_file.read_text().split()[0]) != old_pid
        except (OSError, ValueError, IndexError):
            return False

    assert stack_poll(new_postmaster, timeout=60), f"postgres not restarted:\n{s.log()}"

    def created() -> bool:
        status: int
        status, _ = stack_http("POST", f"{s.base_url}/api/v1/projects", {"name": "after kill"})
        return status == 201

    assert stack_poll(created, timeout=60, interval=0.5), f"API did not recover:\n{s.log()}"
    status, health = stack_http("GET", f"{s.base_url}/health/ready")
    assert status == 200, health

    code = s.stop()
    assert code == 0, s.log()
    assert s.leftovers(grace=2.0) == []
    assert not pid_file.exists()
