"""The import graph of server/ runs one way: each layer imports only layers below it.

Bottom to top: settings, models and domain errors; schemas; infrastructure (database, Redis,
cache, limits) and logging; services; HTTP errors and middleware; the API; the other endpoints
(health, docs); the entry points that assemble it all. Read from the source (AST), so a lazy
import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import server

ROOT = Path(server.__file__).parent
# Longest matching prefix wins.
LAYERS: dict[str, int] = {
    "server.config": 0,
    "server.models": 0,
    "server.services.errors": 0,
    "server.redaction": 0,
    "server.schemas": 1,
    # Authentication: the actor is plain context (services use it); tokens, OIDC, isolation
    # and the log filter sit with the infrastructure; the HTTP side with the middleware.
    "server.auth": 4,
    "server.auth.actor": 0,
    "server.auth.tokens": 2,
    "server.auth.oidc": 2,
    "server.auth.isolation": 2,
    "server.auth.log_filter": 2,
    "server.auth.token_cache": 2,
    "server.infra": 2,
    "server.wsgi_bridge": 2,
    "server.logs": 2,
    "server.services": 3,
    "server.errors": 4,
    "server.middleware": 4,
    "server.api": 5,
    "server.web": 6,
    "server.app": 7,
    "server.cli": 7,
    "server.wsgi": 7,
    "server.gunicorn_conf": 7,
    "server.serve": 7,
    "server.rsgi": 7,
    "server.__main__": 7,
    "server.migrations": 7,
    "server": 7,  # the package's lazy create_app
}
# What the domain must not know: HTTP, the web framework, and the layers that speak them.
NOT_IN_DOMAIN = ("flask", "werkzeug", "server.errors", "server.api", "server.web", "server.app")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)]


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "server":  # from server import x: the submodule x
                found.update(f"server.{alias.name}" for alias in node.names)
    return found


MODULES = {
    module_name(path): path
    for path in sorted(ROOT.rglob("*.py"))
    if "versions" not in path.relative_to(ROOT).parts
}


def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 40
    for name in MODULES:
        assert layer(name) >= 0


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_runs_back_up(name: str) -> None:
    own = layer(name)
    upward = sorted(
        target
        for target in imports(MODULES[name])
        if target.startswith("server") and target != "server" and layer(target) > own
    )
    assert upward == [], f"{name} (layer {own}) imports from above: {upward}"


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if n.startswith(("server.services", "server.models")))
)
def test_domain_knows_no_http(name: str) -> None:
    banned = sorted(
        target
        for target in imports(MODULES[name])
        if any(target == b or target.startswith(b + ".") for b in NOT_IN_DOMAIN)
    )
    assert banned == [], f"{name} imports {banned}"


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The checks above could pass by reading nothing: show they catch an upward import."""
    bad = tmp_path / "bad.py"
    bad.write_text("from flask import request\nfrom server.errors import Problem\n")
    assert {"flask", "server.errors"} <= imports(bad)
    assert layer("server.errors") > layer("server.services.projects")
