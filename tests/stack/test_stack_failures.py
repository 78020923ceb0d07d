"""Failures are loud: a failed migration ends the run, a killed postgres is brought back."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_failed_migration_keeps_web_down_and_fails_the_run(stack: Any) -> None:
    """migrate pointed at a database that does not exist: web never starts, exit is non-zero."""
    s = stack(web_mode="prod")
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
    code = s.wait_exit()
    log = s.log(tail=10_000)

    assert code != 0, f"process-compose exited 0 after a failed migration:\n{log}"
    assert 'database "no_such_db" does not exist' in log, log
    assert "[web" not in log, f"web started although migrate failed:\n{log}"
    assert s.leftovers(grace=2.0) == [], "processes outlived the failed run"
    assert not (s.data_dir / "postgres" / "postmaster.pid").exists()


def test_failed_postgres_fails_the_run(stack: Any) -> None:
    """A data dir postgres cannot use: restarts run out, migrate is skipped, exit is non-zero."""
    s = stack(web_mode="prod")
    # A cluster directory that claims to be one but is not: pg-init skips initdb, postgres dies.
    pgdata = s.data_dir / "postgres"
    pgdata.mkdir(mode=0o700)
    (pgdata / "PG_VERSION").write_text("15\n")
    (pgdata / "stack-init.done").touch()
    s.start()
    code = s.wait_exit(timeout=120)
    log = s.log(tail=10_000)

    assert code != 0, f"process-compose exited 0 although postgres never started:\n{log}"
    assert "could not access the server configuration file" in log, log
    assert "[web" not in log
    assert s.leftovers(grace=2.0) == []


def test_killed_postgres_is_restarted_and_the_api_recovers(
    stack: Any, stack_http: Any, stack_poll: Any
) -> None:
    """SIGKILL to the postmaster: process-compose restarts it and the API serves writes again."""
    s = stack(web_mode="prod")
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
        status, _ = stack_http("POST", f"{s.base_url}/api/v1/projects", {"name": "after kill"})
        return status == 201

    assert stack_poll(created, timeout=60, interval=0.5), f"API did not recover:\n{s.log()}"
    status, health = stack_http("GET", f"{s.base_url}/health/ready")
    assert status == 200, health

    code = s.stop()
    assert code == 0, s.log()
    assert s.leftovers(grace=2.0) == []
    assert not pid_file.exists()
