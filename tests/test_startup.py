"""What a server process imports and builds at start (server/startup.py, server/serve.py).

Each case runs a fresh interpreter (this one has imported everything) and prints what it has
imported and the collector's state, as JSON on its last line.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.processes import app_env
from support.servers import Postgres

# Imported only by the settings that use them: OIDC (PyJWT, cryptography's primitives),
# tracing (OpenTelemetry's tracing SDK, instrumentations and exporter), Sentry; and only by the
# command line: migrations (Alembic, Mako, Pygments) and gunicorn. (redis-py itself imports
# redis.asyncio, opentelemetry.sdk.metrics and the cryptography package's top, when installed.)
OPTIONAL = (
    "jwt",
    "cryptography.hazmat",
    "opentelemetry.sdk.trace",
    "opentelemetry.instrumentation",
    "opentelemetry.exporter",
    "sentry_sdk",
    "alembic",
    "flask_migrate",
    "mako",
    "pygments",
    "gunicorn",
)

REPORT = """
import gc, json, sys
{code}
print(json.dumps({{
    "modules": sorted(sys.modules),
    "collecting": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
}}))
"""


@pytest.fixture(scope="module")
def env(pg: Postgres, redis_url: str) -> dict[str, str]:
    # Nothing connects at import or while the app is built: the database is never created.
    return app_env(pg.url("fns_startup_never_created"), redis_url, APP_RATELIMIT_ENABLED="true")


def report(code: str, env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", REPORT.format(code=code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return found


def optional_imported(modules: object) -> set[str]:
    assert isinstance(modules, list)
    return {m for m in modules if any(m == o or m.startswith(o + ".") for o in OPTIONAL)}


def test_a_worker_imports_no_optional_library_with_default_settings(env: dict[str, str]) -> None:
    """What each granian worker imports (server.rsgi builds the app): nothing for a setting
    left off. A library imported at module level again would show up here."""
    worker = report("import server.rsgi", env)
    assert "server.app" in worker["modules"]  # type: ignore[operator]  # (it did build the app)
    assert optional_imported(worker["modules"]) == set()


def test_a_setting_that_needs_a_library_still_imports_it(env: dict[str, str]) -> None:
    """The check above can fail: with OIDC on, the worker imports PyJWT (for its verifier)."""
    oidc = {
        **env,
        "APP_OIDC_ISSUER": "https://id.example.test",
        "APP_OIDC_AUDIENCE": "fns",
        "APP_OIDC_JWKS_URL": "https://id.example.test/jwks.json",
    }
    assert "jwt" in optional_imported(report("import server.rsgi", oidc)["modules"])


def test_the_collector_runs_again_once_a_worker_has_started(env: dict[str, str]) -> None:
    """Paused while the app is built (server/startup.py), never left off: the worker's requests
    would leak every reference cycle they make."""
    worker = report("import server.rsgi", env)
    assert worker["collecting"] is True
    assert worker["frozen"] > 50_000  # type: ignore[operator]  # (start-up's objects, frozen)


def test_the_collector_stays_off_where_a_caller_turned_it_off(env: dict[str, str]) -> None:
    worker = report("gc.disable()\nimport server.rsgi", env)
    assert worker["collecting"] is False
    assert worker["frozen"] == 0


def test_the_granian_master_imports_the_app_but_does_not_build_it(env: dict[str, str]) -> None:
    """Its workers are forked from it with the app's modules imported; each builds the app
    itself (server/rsgi.py), so nothing the app opens is shared between processes."""
    master = report("from server.serve import preload_app_modules\npreload_app_modules()", env)
    modules = master["modules"]
    assert isinstance(modules, list)
    assert "server.app" in modules
    assert "server.wsgi" not in modules  # the module that builds the app
    assert "server.rsgi" not in modules  # its signal handling is the worker's
    assert master["collecting"] is True
    assert optional_imported(modules) == set()


# Two command lines run one after the other in one fresh interpreter (one start, not two), with
# what each left behind as JSON: click ends a command with SystemExit, even on success.
COMMANDS = """
import gc, json, sys
from server.cli import main

def run(argv):
    try:
        main(argv)
    except SystemExit as exc:
        assert not exc.code, exc.code
    frozen = gc.get_freeze_count()
    return {"modules": sorted(sys.modules), "collecting": gc.isenabled(), "frozen": frozen}

print(json.dumps([run(["config", "check"]), run(["routes"])]))
"""


@pytest.fixture(scope="module")
def commands(env: dict[str, str]) -> list[dict[str, object]]:
    """What `config check` (no app), then `routes` (the whole app), left in the interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", COMMANDS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: list[dict[str, object]] = json.loads(result.stdout.splitlines()[-1])
    return found


def test_a_command_starts_with_the_collector_paused(commands: list[dict[str, object]]) -> None:
    """What `config check` imports to start (the group, the command, the settings' checks) is
    frozen (server/startup.py): without the pause, collections were a third of its CPU, most in
    the last one, at exit. Then the collector runs again. (On main nothing was frozen here.)"""
    config_check = commands[0]
    assert "server.app" not in config_check["modules"]  # type: ignore[operator]
    assert config_check["collecting"] is True
    assert config_check["frozen"] > 50_000  # type: ignore[operator]


def test_a_command_other_than_db_builds_the_app_without_migrations(
    commands: list[dict[str, object]],
) -> None:
    """Flask-Migrate and Alembic (with Mako and Pygments) are set up for the ``db`` commands
    only (server/cli/group.py): `routes`, `principals list` and the others never migrate.
    (The db commands' own tests fail without them; on main `routes` imported them.)"""
    routes = commands[1]["modules"]
    assert isinstance(routes, list)
    assert "server.app" in routes  # it did build the whole app
    assert optional_imported(routes) == set()
