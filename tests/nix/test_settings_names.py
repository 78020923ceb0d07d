"""One source of truth: every APP_* name the deployments set is a setting of the server.

The NixOS module (evaluated), the OCI image (nix/image.nix `Env`) and the process-compose stack
may only use names that `server.config.Settings` reads (APP_ + field name, upper-cased) or that
the loader reads before Settings exists (APP_SECRETS_DIR, APP_ENV_FILE).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_EVAL = REPO_ROOT / "nix" / "tests" / "module-eval.nix"
IMAGE = REPO_ROOT / "nix" / "image.nix"
PROCESS_COMPOSE = REPO_ROOT / "process-compose.yaml"

APP_NAME = re.compile(r"\bAPP_[A-Z][A-Z0-9_]*\b")
# `Env = [ "APP_ENV=production" ... ]` in dockerTools' config: the names before "=".
IMAGE_ENV_ENTRY = re.compile(r'"(APP_[A-Z][A-Z0-9_]*)=')


@pytest.fixture(scope="module")
def known_names() -> frozenset[str]:
    """Every APP_* name the server reads, across all profiles."""
    config = pytest.importorskip("server.config", reason="the server package is not installed")
    fields = {name for profile in config.PROFILES.values() for name in profile.model_fields}
    return frozenset({f"APP_{name.upper()}" for name in fields} | set(config.BOOTSTRAP_VARS))


def unknown(names: set[str], known: frozenset[str]) -> list[str]:
    return sorted(names - known)


def test_module_names_are_settings(
    nix_eval: Callable[..., Any], known_names: frozenset[str]
) -> None:
    cases = nix_eval(f"(import {MODULE_EVAL} {{ lib = import <nixpkgs/lib>; }}).cases")
    names: set[str] = set()
    for facts in cases.values():
        names.update(facts["declaredSettings"])
        for role in ("web", "migrate"):
            unit = facts[role]
            if unit is None:
                continue
            names.update(unit["environment"])
            # LoadCredential=NAME:path; the app reads NAME from its secrets directory.
            names.update(c.split(":", 1)[0] for c in unit["serviceConfig"]["LoadCredential"])
    names.discard("SECRET_KEY")  # the misconfigured case's deliberately wrong credential
    assert {"APP_ENV", "APP_BIND", "APP_DATABASE_URL", "APP_SECRET_KEY"} <= names
    assert unknown(names, known_names) == []


def test_image_names_are_settings(known_names: frozenset[str]) -> None:
    if not IMAGE.exists():
        pytest.skip(f"{IMAGE.relative_to(REPO_ROOT)} does not exist yet")
    text = IMAGE.read_text(encoding="utf-8")
    names = set(IMAGE_ENV_ENTRY.findall(text))
    if not names:
        pytest.skip(f"{IMAGE.relative_to(REPO_ROOT)} sets no APP_* variable in Env")
    # Any other APP_* mention (comments, scripts) must be a real name too.
    names |= set(APP_NAME.findall(text))
    assert unknown(names, known_names) == []


def test_process_compose_names_are_settings(known_names: frozenset[str]) -> None:
    if not PROCESS_COMPOSE.exists():
        pytest.skip("process-compose.yaml does not exist yet")
    text = PROCESS_COMPOSE.read_text(encoding="utf-8")
    names = set(APP_NAME.findall(text))
    try:
        import yaml
    except ImportError:
        print("PyYAML not installed: checked every APP_* mention of the file as text")
    else:
        # Keys of the global and per-process `environment` (K=V list or mapping) count too.
        doc = yaml.safe_load(text) or {}
        scopes = [doc, *(doc.get("processes") or {}).values()]
        for scope in scopes:
            env = (scope or {}).get("environment") or []
            keys = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
            names |= {k for k in keys if k.startswith("APP_")}
    assert names, "process-compose.yaml sets no APP_* variable"
    assert unknown(names, known_names) == []
