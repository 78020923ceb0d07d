"""The flask-nix-stack command: config check, db, seed, and one-line setting errors.

Most commands run in this process (support/cli_runner.py): their behaviour is the subject.
Subprocesses remain where the process is: the console script as a shell runs it, what it
imports, and the reloader; each says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from support.answers import answered
from support.cli_runner import one_line_failure, one_line_failure_report, run_cli_in_process
from support.processes import app_env, run_cli
from support.servers import Postgres, free_port


@pytest.fixture(scope="module")
def cli_env(pg: Postgres, redis_url: str) -> dict[str, str]:
    return app_env(pg.create_database("fns_cli"), redis_url)


def test_config_check_masks_secrets(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "APP_DATABASE_URL": "postgres://app:hunter2@db:5432/app"}
    result = run_cli_in_process("config", "check", env=env)
    assert "APP_SECRET_KEY=***" in result.stdout
    # What the app uses: a provider's postgres:// URL names the installed driver.
    assert "APP_DATABASE_URL=postgresql+psycopg2://app:***@db:5432/app" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    assert "ok: profile development" in result.stderr
    as_json = json.loads(run_cli_in_process("config", "check", "--json", env=env).stdout)
    assert as_json["APP_ENV"] == "development"
    assert as_json["APP_CACHE_TTL"] == 30


def test_config_check_fails_with_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "APP_ENV": "production", "APP_SECRET_KEY": "short"}
    result = run_cli_in_process("config", "check", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "configuration error: APP_SECRET_KEY: 5 characters; production needs 32 or more random "
        "characters"
    ]


def test_app_commands_refuse_bad_settings_in_one_line(cli_env: dict[str, str]) -> None:
    """A subprocess of the console script: its exit status and everything on its stderr, as a
    shell sees them (interpreter warnings included), for any command that builds the app."""
    result = run_cli("routes", env={**cli_env, "APP_WORKERS": "many"}, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("configuration error: APP_WORKERS:")


def test_db_upgrade_current_check_seed_downgrade(cli_env: dict[str, str]) -> None:
    first_upgrade = run_cli_in_process("db", "upgrade", env=cli_env)
    assert "already at the newest revision" not in first_upgrade.stdout
    current = run_cli_in_process("db", "current", env=cli_env)
    assert "(head)" in current.stdout
    run_cli_in_process("db", "check", env=cli_env)
    first = run_cli_in_process("seed", env=cli_env)
    assert "seeded: 1 project(s), 3 task(s) created" in first.stderr
    again = run_cli_in_process("seed", env=cli_env)
    assert "seeded: 0 project(s), 0 task(s) created" in again.stderr
    # The demo principal's development token, alone on stdout, the same on every run.
    assert first.stdout == again.stdout
    assert first.stdout.startswith("fns_")
    run_cli_in_process("db", "downgrade", "base", env=cli_env)
    assert "(head)" not in run_cli_in_process("db", "current", env=cli_env).stdout
    # Behind the head again: the upgrade must really run, not take the at-head shortcut.
    again = run_cli_in_process("db", "upgrade", env=cli_env)
    assert "already at the newest revision" not in again.stdout
    assert "(head)" in run_cli_in_process("db", "current", env=cli_env).stdout


def test_db_upgrade_at_head_answers_without_building_the_app(cli_env: dict[str, str]) -> None:
    run_cli_in_process("db", "upgrade", env=cli_env)
    # Flask is not imported on that path: prove it with -X importtime on the same entry point,
    # in a fresh interpreter (this one has imported everything).
    result, imported = upgrade_in_a_fresh_interpreter(cli_env)
    assert result.stdout.strip() == "database already at the newest revision; nothing to upgrade"
    assert "flask" not in imported
    assert "server.app" not in imported


def upgrade_in_a_fresh_interpreter(
    env: dict[str, str],
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`db upgrade` through the console script's module with -X importtime: its result and
    every module it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "server", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result, {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}


def test_db_upgrade_builds_the_database_but_not_the_http_side(pg: Postgres, redis_url: str) -> None:
    """Migrations run in an app of settings, logging and the database only (server/cli/
    migrations_app.py): routes, schemas, Redis and the rate limits are never imported. A fresh
    interpreter and a new database, so the upgrade really runs; no bootstrap token, whose
    storing needs the whole app."""
    env = app_env(pg.create_database("fns_cli_upgrade_only"), redis_url, APP_LOG_LEVEL="INFO")
    del env["APP_BOOTSTRAP_ADMIN_TOKEN"]
    result, imported = upgrade_in_a_fresh_interpreter(env)
    assert "Running upgrade" in result.stderr
    # Alembic's announcement of each built-in plugin on import is not the operator's business.
    assert "setup plugin" not in result.stderr
    assert "server.models.task" in imported  # every table, for `db migrate` and `db check`
    http_side = {"server.app", "server.api", "server.infra.redis_client", "server.infra.ratelimit"}
    assert not http_side & imported
    assert "(head)" in run_cli_in_process("db", "current", env=env).stdout


def test_db_upgrade_with_bad_settings_still_names_them(cli_env: dict[str, str]) -> None:
    result = run_cli_in_process(
        "db", "upgrade", env={**cli_env, "APP_CACHE_TTL": "soon"}, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("configuration error: APP_CACHE_TTL:")


@pytest.mark.parametrize(
    "args", [("db", "upgrade"), ("db", "current"), ("principals", "list"), ("seed",)]
)
def test_an_unreachable_database_ends_a_command_with_one_line(
    cli_env: dict[str, str], args: tuple[str, ...]
) -> None:
    """Not a traceback of 160 lines: libpq's reason, with its hint, on one line."""
    port = free_port()  # nothing listens there
    env = {**cli_env, "APP_DATABASE_URL": f"postgresql://app:hunter2@127.0.0.1:{port}/app"}
    result = run_cli_in_process(*args, env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f'database unavailable: connection to server at "127.0.0.1", port {port} failed: '
        "Connection refused Is the server running on that host and accepting TCP/IP connections?"
    ]
    assert "hunter2" not in result.stdout + result.stderr


def test_a_server_taking_no_writes_ends_a_command_with_one_line(
    pg: Postgres, redis_url: str
) -> None:
    """A standby after a failover, or a server in maintenance: InternalError's 60 lines of
    traceback before."""
    url = pg.create_database("fns_cli_read_only")
    pg.alter_database("fns_cli_read_only", "SET default_transaction_read_only = on")
    line = one_line_failure("db", "upgrade", env=app_env(url, redis_url))
    assert line.startswith("database refused: cannot execute CREATE TABLE in a read-only")
    assert "APP_DATABASE_URL" in line


@pytest.mark.parametrize("command", [("seed",), ("principals", "list")])
def test_a_database_not_migrated_ends_a_command_with_one_line(
    pg: Postgres, redis_url: str, command: tuple[str, ...]
) -> None:
    """A command run before `db upgrade`: a report of the database error, its frames included,
    before."""
    env = app_env(pg.create_database("fns_cli_not_migrated"), redis_url)
    line = one_line_failure(*command, env=env)
    assert line.startswith('database refused: relation "'), line
    assert line.endswith("run `flask-nix-stack db upgrade`"), line


def test_a_role_without_the_privilege_ends_a_command_with_one_line(
    pg: Postgres, redis_url: str
) -> None:
    """A role that may connect but not create tables (PostgreSQL 15 and later give CREATE on
    the public schema to the database's owner only)."""
    role = "fns_cli_unprivileged"
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        if not cur.fetchone()[0]:  # type: ignore[index]
            conn.close()
            pytest.skip("this server's test role may not create roles (Nix's test hook)")
    url = pg.create_database("fns_cli_privilege")
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
            cur.execute(f"CREATE ROLE {role} LOGIN")
            cur.execute(f"GRANT CONNECT ON DATABASE fns_cli_privilege{pg.suffix} TO {role}")
        with pg.connect("fns_cli_privilege" + pg.suffix).cursor() as cur:
            cur.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
        weak = url.replace(f"//{pg.user}@", f"//{role}@", 1)
        assert weak != url
        line = one_line_failure("db", "upgrade", env=app_env(weak, redis_url))
        assert line.startswith("database refused: permission denied for schema public")
        assert "APP_DATABASE_URL" in line
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS fns_cli_privilege{pg.suffix} WITH (FORCE)")
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        conn.close()


def test_an_unexpected_database_error_shows_no_value(
    pg: Postgres, redis_url: str, migrated_database: Callable[[str], str]
) -> None:
    """A command's traceback went to the terminal, or the journal of the module's units, with
    PostgreSQL's message whole, values and all: here a trigger's of the database's own that
    names the row it refuses."""
    name = "fns_cli_values"
    url = migrated_database(name)
    sentinel = "held-back-by-a-trigger"
    with pg.connect(name + pg.suffix).cursor() as cur:
        cur.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused: %', NEW.name; END $$"
        )
        cur.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON principals"
            " FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    env = app_env(url, redis_url)
    line, *frames = one_line_failure_report("principals", "create", sentinel, env=env)
    assert line.startswith("database error: RaiseException (SQLSTATE P0001) in INSERT INTO")
    assert any("principals" in frame for frame in frames)  # where it failed, still
    assert sentinel not in "\n".join([line, *frames])


def test_only_a_taken_name_is_called_taken(
    pg: Postgres, redis_url: str, migrated_database: Callable[[str], str]
) -> None:
    """A check of the database's own refused the row: that is not "already exists"."""
    name = "fns_cli_check"
    url = migrated_database(name)
    refused = "refused-by-a-check"
    with pg.connect(name + pg.suffix).cursor() as cur:
        cur.execute(f"ALTER TABLE principals ADD CONSTRAINT refused CHECK (name <> '{refused}')")
    env = app_env(url, redis_url)
    line, *_ = one_line_failure_report("principals", "create", refused, env=env)
    assert line.startswith("database error: CheckViolation (SQLSTATE 23514) in INSERT INTO")
    run_cli_in_process("principals", "create", "taken", env=env)
    again = run_cli_in_process("principals", "create", "taken", env=env, check=False)
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_routes_lists_the_api(cli_env: dict[str, str]) -> None:
    output = run_cli_in_process("routes", env=cli_env).stdout
    for path in ("/api/v1/projects", "/api/v1/tasks/<id:task_id>", "/health/ready"):
        assert path in output


def test_a_providers_postgres_url_works(cli_env: dict[str, str]) -> None:
    """SQLAlchemy alone would load a driver that is not installed (ModuleNotFoundError)."""
    url = cli_env["APP_DATABASE_URL"].replace("postgresql+psycopg2://", "postgres://", 1)
    result = run_cli_in_process("db", "upgrade", env={**cli_env, "APP_DATABASE_URL": url})
    assert "Traceback" not in result.stderr
    result = run_cli_in_process("seed", env={**cli_env, "APP_DATABASE_URL": url})
    assert result.returncode == 0


def test_reloader_parent_does_not_build_the_app(cli_env: dict[str, str]) -> None:
    """`run --reload`: only the serving child builds the app (it loads psycopg2's C module to
    make its database engine); the watching parent does not, so dev start-up pays it once.
    Real processes: the reloader's parent and child, read from /proc."""
    import time

    import requests

    from support.processes import child_pids, script
    from support.servers import free_port, wait_until

    port = free_port()
    parent = subprocess.Popen(
        [script("flask-nix-stack"), "--debug", "run", "--reload", "--port", str(port)],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health/live").ok, 60, "dev")
        (child,) = child_pids(parent.pid)
        time.sleep(0.2)
        with open(f"/proc/{child}/maps") as maps:
            assert "_psycopg" in maps.read()
        with open(f"/proc/{parent.pid}/maps") as maps:
            assert "_psycopg" not in maps.read()
    finally:
        parent.terminate()
        parent.wait(timeout=30)


# Run in a fresh interpreter: `run --reload` as the stack's dev mode starts it, up to the point
# where the outer process would start its serving child; it prints what it has imported then.
RELOADER_PARENT = """
import json, sys
from werkzeug._reloader import ReloaderLoop

def report(self):
    print(json.dumps(sorted(sys.modules)))
    return 0

ReloaderLoop.restart_with_reloader = report
sys.argv = ["flask-nix-stack", "--debug", "run", "--reload", "--port", sys.argv[1]]
from server.cli import main
main()
"""


def test_reloader_parent_imports_neither_the_app_nor_the_models(cli_env: dict[str, str]) -> None:
    """The outer process only restarts the child: the app, the models, SQLAlchemy and Pydantic
    (which our CLI commands import) are the child's to import, once. A fresh interpreter: this
    one has imported them all."""

    from support.servers import free_port

    result = subprocess.run(
        [sys.executable, "-c", RELOADER_PARENT, str(free_port())],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    assert "flask.cli" in imported  # it did get as far as the reloader
    heavy = ("sqlalchemy", "pydantic", "psycopg2", "redis", "flask_sqlalchemy", "server.app")
    assert not {
        name
        for name in imported
        if name.split(".")[0] in heavy
        or name.startswith(("server.app", "server.models", "server.services"))
    }


def test_help_lists_the_lazily_loaded_commands(cli_env: dict[str, str]) -> None:
    output = run_cli_in_process("--help", env=cli_env).stdout
    for command in ("config", "db", "principals", "routes", "run", "seed", "serve", "tokens"):
        assert f"  {command} " in output, command
    assert "Users and service accounts." in output  # a lazy command's own help text
    assert "Run the production server" in output


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["db", "--help"],
        ["db", "upgrade", "--help"],
        ["tokens", "create", "--help"],
        ["config", "check", "--help"],
        ["serve", "--help"],
        ["dev", "--help"],
    ],
)
def test_help_needs_no_settings(cli_env: dict[str, str], args: list[str]) -> None:
    """Help is what a user reads before the settings are right: a production profile without
    its secret key (a bare image, say) still gets it, not the setting's error."""
    env = {**cli_env, "APP_ENV": "production"}
    env.pop("APP_SECRET_KEY", None)
    refused = run_cli_in_process("db", "upgrade", env=env, check=False)  # what help avoids
    assert (refused.returncode, refused.stderr) == (
        2,
        "configuration error: APP_SECRET_KEY: required in this profile but not set\n",
    )
    result = run_cli_in_process(*args, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lower().startswith("usage: flask-nix-stack"), result.stdout
    assert "configuration error" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["tokens", "create", "--principal", "ops", "--scope", "read", "--name", "--help"],
        ["db", "-d", "--help", "upgrade"],
        ["tokens", "list", "--principal", "--help"],
        ["principals", "create", "--oidc-subject", "--help", "ops"],
    ],
)
def test_a_help_that_is_a_value_runs_the_command(cli_env: dict[str, str], args: list[str]) -> None:
    """`--help` as an option's value asks for nothing: click passes it on as
    that value and runs the command. Before, a scan of the arguments took it for help, so with
    settings that do not load the command ran on the bare app help gets, and died with a
    traceback. It gets the setting's one line, as the same command without `--help` does."""
    env = {**cli_env, "APP_ENV": "production"}
    env.pop("APP_SECRET_KEY", None)
    result = run_cli_in_process(*args, env=env, check=False)
    assert (result.returncode, result.stderr) == (
        2,
        "configuration error: APP_SECRET_KEY: required in this profile but not set\n",
    )


def test_version_names_this_program_first(cli_env: dict[str, str]) -> None:
    """`--version` showed Flask's versions alone (Python, Flask, Werkzeug), not the version of
    what was running. It needs no settings, as help does."""
    from importlib.metadata import version

    env = {**cli_env, "APP_ENV": "production"}
    env.pop("APP_SECRET_KEY", None)
    first, *rest = run_cli_in_process("--version", env=env).stdout.splitlines()
    assert first == f"flask-nix-stack {version('flask-nix-stack')}"
    assert [line.split()[0] for line in rest] == ["Python", "Flask", "Werkzeug"]


def test_serve_through_the_group_is_the_same_command(cli_env: dict[str, str]) -> None:
    """`serve` reached through the click group (not main's shortcut) runs server/serve.py: its
    one-line refusal of gunicorn arguments under granian proves the hand-over."""
    from server.cli import PROG
    from server.cli.group import cli

    def through_the_group(args: list[str]) -> None:
        cli.main(args=args, prog_name=PROG)

    result = run_cli_in_process(
        "serve", "--workers", "3", env=cli_env, check=False, entry=through_the_group
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "configuration error: arguments ['--workers', '3'] are for APP_SERVER=gunicorn only"
    ]


def test_commands_run_in_process_leave_this_process_as_it_was(
    migrated_database: Callable[[str], str], redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """support/cli_runner.py puts back what a command changes of its process (environment,
    arguments, streams, logging, signals) and closes its connections, as the exit of a process
    of its own would: the tests after it in this process see none of it."""
    import gc
    import logging
    import os
    import signal
    import threading

    import redis
    import sqlalchemy as sa

    from support.servers import wait_until

    env = app_env(migrated_database("fns_cli_in_process"), redis_url, ONLY_IN_THE_COMMAND="1")
    root, werkzeug = logging.getLogger(), logging.getLogger("werkzeug")

    def process_state() -> tuple[object, ...]:
        return (
            dict(os.environ),
            sys.argv[:],
            sys.path[:],
            os.getcwd(),
            (sys.stdin, sys.stdout, sys.stderr),
            (root.level, root.handlers[:], werkzeug.level, werkzeug.handlers[:]),
            (logging._srcfile, logging.logThreads, logging.logProcesses),
            [signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)],
            signal.pthread_sigmask(signal.SIG_BLOCK, []),
            threading.active_count(),
        )

    store = redis.Redis.from_url(redis_url)
    engine = sa.create_engine(env["APP_DATABASE_URL"], poolclass=sa.NullPool)

    def backends() -> int:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            return int(connection.scalar(sa.text(query)) or 0)

    before = process_state()
    received = answered(store.info("stats"))["total_connections_received"]
    clients = answered(store.info("clients"))["connected_clients"]

    # A write (the database, then Redis: a commit drops the cache), and a refusal (exit 1).
    # The garbage collector off: what the runner leaves open must not be closed by chance.
    gc.disable()
    try:
        run_cli_in_process("seed", env=env)
        refused = run_cli_in_process(
            "tokens", "create", "--principal", "nobody", "--scope", "read", env=env, check=False
        )
        assert refused.returncode == 1
        assert process_state() == before
        stats = answered(store.info("stats"))
        assert stats["total_connections_received"] > received  # Redis was used
        # And let go. The servers notice a closed connection a moment later (PostgreSQL's
        # backend exits after its client has gone); one left open never goes.
        wait_until(
            lambda: answered(store.info("clients"))["connected_clients"] == clients,
            30,
            "Redis connections closed",
        )
        wait_until(lambda: backends() == 1, 30, "PostgreSQL connections closed")  # but this one
    finally:
        gc.enable()
    logging.getLogger("server").warning("logged after the commands")
    assert "logged after the commands" in caplog.text  # the test's log capture is back
