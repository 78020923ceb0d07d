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
    assert "server.app" in worker["modules"]  # type: ignore[operator]  (it did build the app)
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
    assert worker["frozen"] > 50_000  # type: ignore[operator]  (start-up's objects, frozen)


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


# A command line run in the REPORT's interpreter; click ends it with SystemExit, even on success.
COMMAND = """
from server.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    assert not exc.code, exc.code
"""


def test_a_command_other_than_db_builds_the_app_without_migrations(env: dict[str, str]) -> None:
    """Flask-Migrate and Alembic (with Mako and Pygments) are set up for the ``db`` commands
    only (server/cli/group.py): `principals list` and the others never migrate."""
    routes = report(COMMAND.format(argv=["routes"]), env)["modules"]
    assert isinstance(routes, list)
    assert "server.app" in routes  # it did build the whole app
    assert optional_imported(routes) == set()


def test_the_db_commands_still_get_migrations(env: dict[str, str]) -> None:
    """The check above can fail: ``db heads`` (which reads the scripts, not the database)
    needs Flask-Migrate, and gets it."""
    heads = report(COMMAND.format(argv=["db", "heads"]), env)["modules"]
    assert isinstance(heads, list)
    assert {"alembic", "flask_migrate"} <= optional_imported(heads)


@pytest.mark.parametrize("argv", [["config", "check"], ["tokens", "generate"], ["routes"]])
def test_a_short_command_starts_with_the_collector_paused(
    env: dict[str, str], argv: list[str]
) -> None:
    """What a command imports to start is frozen (server/startup.py): without the pause,
    collections were a third of `config check`'s CPU, the last one at exit. Then the collector
    runs again for what the command itself allocates."""
    command = report(COMMAND.format(argv=argv), env)
    assert command["collecting"] is True
    assert command["frozen"] > 50_000  # type: ignore[operator]  (start-up's objects, frozen)
