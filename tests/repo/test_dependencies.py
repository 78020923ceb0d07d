"""Every runtime dependency pyproject.toml declares is used by the server, and everything the
server imports is declared: a dependency nothing imports only costs install time, closure size
and audits, and one imported without being declared works only by accident."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"

# Used without an import statement. Each names where it is used, and the test checks that this
# place still says so, so an exception cannot outlive its reason.
NOT_IMPORTED = {
    # The production server: runs the app (`gunicorn -c python:server.gunicorn_conf ...`).
    "gunicorn": ("server/gunicorn_conf.py", "gunicorn"),
    # The PostgreSQL driver SQLAlchemy loads by the URL's scheme.
    "psycopg2": ("server/config/development.py", "postgresql+psycopg2://"),
    # RSA and EC signatures for PyJWT, which imports it when it verifies an OIDC token.
    "cryptography": ("server/auth/oidc.py", "import jwt"),
    # The JSON log formatter, named in the logging configuration (dictConfig's "()").
    "python-json-logger": ("server/logs.py", '"pythonjsonlogger.json.JsonFormatter"'),
    # granian's worker event loop before 2.8, which granian imports by this name.
    "uvloop": ("server/serve.py", "Loops.uvloop"),
}


# Extras that are not the server's: every other extra is runtime, and checked like `dependencies`.
TOOLING_EXTRAS = {
    "dev": "the test suite and the linters",
    "bench": "bench/ only: the FastAPI peer and the other server candidates",
}


def project() -> dict[str, Any]:
    result: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return result


def declared() -> set[str]:
    """Distributions of `dependencies` and of every runtime extra."""
    requirements = list(project()["dependencies"])
    for extra, items in project().get("optional-dependencies", {}).items():
        if extra not in TOOLING_EXTRAS:
            requirements += items
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def imported_modules() -> set[str]:
    """Top-level names of every module the server imports (at any depth, lazily or not)."""
    names: set[str] = set()
    for path in SERVER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - {"server"} - set(sys.stdlib_module_names)


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """For each module, the installed distributions that provide it."""
    provided = packages_distributions()
    return {m: {canonicalize_name(d) for d in provided.get(m, [])} for m in modules}


def test_every_declared_dependency_is_used() -> None:
    used = set().union(*distributions_of(imported_modules()).values())
    unused = declared() - used - set(NOT_IMPORTED)
    assert unused == set(), f"declared in pyproject.toml but never imported by server/: {unused}"


def test_every_import_is_declared() -> None:
    undeclared = {
        module: dists
        for module, dists in distributions_of(imported_modules()).items()
        if not dists & declared()
    }
    assert undeclared == {}, f"imported by server/ but not declared in pyproject.toml: {undeclared}"


def test_exceptions_still_hold() -> None:
    assert set(TOOLING_EXTRAS) <= set(project().get("optional-dependencies", {}))
    for dist, (path, evidence) in NOT_IMPORTED.items():
        assert dist in declared(), f"{dist} is no longer declared: drop its exception"
        assert evidence in (ROOT / path).read_text(), f"{path} no longer uses {dist}"
