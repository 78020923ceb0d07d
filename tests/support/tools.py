"""A tool a test needs and the machine lacks: a skip that says why, but a failure in CI, whose
script/bootstrap installs every tool the suite uses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

# Where script/bootstrap installs the npm tools (project-local), looked at before PATH.
NPM_BIN = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin"


def in_ci() -> bool:
    """CI (env CI=true, as GitHub Actions and .ci/run set it)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_tool(reason: str, *, module: bool = False) -> NoReturn:
    """Skip with ``reason`` on a developer's machine (the whole module, called from its top
    with ``module``); fail with it in CI."""
    if in_ci():
        pytest.fail(f"CI installs every tool the suite uses, but: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


def npm_tool(name: str, what: str) -> str:
    """The npm tool ``name`` (``what``, for the message): from .tools/, else PATH; skips
    without it, except in CI."""
    local = NPM_BIN / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        missing_tool(f"{what} is not installed (script/bootstrap test installs it into .tools/)")
    return found
