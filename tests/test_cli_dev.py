"""`flask-nix-stack dev` (server/cli/dev_server.py): the stack's development server, what each of
its two processes imports, and how it fails."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from server.cli import dev_server

from support.cli_runner import run_cli_in_process
from support.processes import app_env, child_pids, run_cli, script
from support.servers import free_port, wait_until


@pytest.fixture(scope="module")
def dev_env(database_url: str, redis_url: str) -> dict[str, str]:
    return app_env(database_url, redis_url)


def test_dev_serves_with_the_debugger_and_only_the_child_builds_the_app(
    dev_env: dict[str, str], tmp_path: Path
) -> None:
    """The outer process holds the socket and restarts the child; the child alone builds the
    app (it loads psycopg2's C module to make its database engine)."""
    port = free_port()
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        parent = subprocess.Popen(
            [script("flask-nix-stack"), "dev", "--port", str(port)],
            env=dev_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health/live").ok, 60, "dev")
        (child,) = child_pids(parent.pid)
        time.sleep(0.2)
        assert "_psycopg" in Path(f"/proc/{child}/maps").read_text()
        assert "_psycopg" not in Path(f"/proc/{parent.pid}/maps").read_text()
        assert "Debugger is active" in log.read_text()
    finally:
        parent.terminate()  # as process-compose stops it: SIGTERM to the outer process alone
        parent.wait(timeout=30)
    assert not Path(f"/proc/{child}").exists(), "the child outlived the outer process"


# Run in a fresh interpreter: `dev` up to where the outer process would start its child, or
# where the child would start serving; either prints what it has imported by then.
IMPORTED_BY = """
import json, sys
import werkzeug._reloader

def report(*args, **kwargs):
    import server
    from pathlib import Path

    extra = sorted(str(path) for path in kwargs.get("extra_files") or ())
    package = str(Path(server.__file__).resolve().parent)
    print(json.dumps({"modules": sorted(sys.modules), "watched": extra, "package": [package]}))
    return 0

werkzeug._reloader.ReloaderLoop.restart_with_reloader = report  # the outer process
werkzeug._reloader.run_with_reloader = report  # the child
sys.argv = ["flask-nix-stack", "dev", "--port", sys.argv[1]]
from server.cli import main
main()
"""


def imported_by(env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY, str(free_port())],
        env=env,
        pass_fds=pass_fds,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return report


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_outer_process_imports_werkzeug_and_not_flask(dev_env: dict[str, str]) -> None:
    imported = set(imported_by(dev_env)["modules"])
    assert "werkzeug.serving" in imported  # it got as far as the reloader
    assert not top_level(imported) & {"flask", "click", "sqlalchemy", "pydantic", "psycopg2"}
    assert not {name for name in imported if name.startswith("server.")} - {
        "server.cli",
        "server.cli.dev_server",
    }


def test_child_builds_the_app_without_the_migration_commands(dev_env: dict[str, str]) -> None:
    """`run` sets up Flask-Migrate (and imports Alembic) for every command; a server never
    migrates, so the child that `dev` starts does not."""
    # WERKZEUG_RUN_MAIN: werkzeug's mark of its reloader's child, which serves on the socket it
    # inherits (WERKZEUG_SERVER_FD). It never does here: run_with_reloader is replaced.
    with socket.create_server(("127.0.0.1", 0)) as listening:
        fd = listening.fileno()
        env = {**dev_env, "WERKZEUG_RUN_MAIN": "true", "WERKZEUG_SERVER_FD": str(fd)}
        report = imported_by(env, pass_fds=(fd,))
    imported = set(report["modules"])
    assert "server.app" in imported
    assert not top_level(imported) & {"alembic", "flask_migrate"}
    assert "server.cli.group" not in imported
    # A module whose import failed is in no list of imported modules: the reloader watches the
    # package's directory too, so saving the fix restarts the child.
    # (The package this interpreter imported: under Nix's check phase, `python -c` in the
    # unpacked source imports that copy, not the installed one the tests import.)
    assert report["watched"] == report["package"]


def test_bad_setting_stops_dev_with_one_line(dev_env: dict[str, str]) -> None:
    env = {**dev_env, "APP_DATABASE_URL": "mysql://app@db/app"}
    result = run_cli("dev", "--port", str(free_port()), env=env, check=False)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert "APP_DATABASE_URL" in errors[0]
    assert "Traceback" not in result.stderr


def test_the_production_profile_is_refused(dev_env: dict[str, str]) -> None:
    """The debugger runs whatever a visitor types on an error page: never with production
    settings (a profile that is otherwise valid here)."""
    env = {
        **dev_env,
        "APP_ENV": "production",
        "APP_SECRET_KEY": secrets.token_urlsafe(48),
        "APP_TOKEN_HASH_KEY": secrets.token_urlsafe(48),
    }
    assert run_cli_in_process("config", "check", env=env, check=False).returncode == 0
    result = run_cli("dev", "--port", str(free_port()), env=env, check=False)
    assert result.returncode == 2
    assert dev_server.PRODUCTION_REFUSED in result.stderr.splitlines()


def test_an_app_that_fails_to_build_is_served_as_its_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As in `flask run`'s child: the server stays up (and watching), each request raises the
    error, so saving the fix restarts into a working app."""
    import server.app

    def broken() -> None:
        raise RuntimeError("half-edited module")

    monkeypatch.setattr(server.app, "create_app_or_exit", broken)
    app = dev_server.serving_app()
    assert "RuntimeError: half-edited module" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="half-edited module"):
        app({}, lambda status, headers: None)  # type: ignore[arg-type]


def test_help_lists_dev() -> None:
    from server.cli.group import cli

    result = CliRunner().invoke(cli, ["--help"])
    assert "  dev " in result.output
    assert "Run the development server" in result.output
