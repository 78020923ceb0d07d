"""tests/nix/nixpkgs-versions.txt names the nixpkgs revision flake.lock pins and pins every
Python dependency (build system, runtime, the sentry extra, the test tools) to a version that
pyproject.toml's lower bounds accept."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO_ROOT / "tests" / "nix" / "nixpkgs-versions.txt"
# Brought by the dev shell as programs, not Python test dependencies of the package.
# Programs, not Python packages, in nixpkgs (pkgs.openapi-python-client is an application).
TOOLS = {"ruff", "mypy", "yamllint", "openapi-python-client"}
# mypy's stubs (types-NAME) go with mypy: lint only, a stub's release changes no test's outcome.
STUBS = "types-"
# Extras the package does not build with: bench/'s server candidates (never a runtime dependency).
NOT_BUILT = {"bench"}


def constraints() -> tuple[str, dict[str, Version]]:
    text = CONSTRAINTS.read_text(encoding="utf-8")
    match = re.search(r"^# nixpkgs-rev: ([0-9a-f]{40})$", text, re.MULTILINE)
    assert match, "nixpkgs-versions.txt must name the nixpkgs revision it was read at"
    pins: dict[str, Version] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not an exact pin: {line}"
        key = canonicalize_name(name)
        assert key not in pins, f"pinned twice: {name}"
        pins[key] = Version(version)
    return match.group(1), pins


def requirements() -> list[Requirement]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    reqs = [*pyproject["build-system"]["requires"], *project["dependencies"]]
    for name, extra in project["optional-dependencies"].items():
        if name not in NOT_BUILT:
            reqs.extend(extra)
    kept = [(r, canonicalize_name(r.name)) for r in map(Requirement, reqs)]
    return [r for r, name in kept if name not in TOOLS and not name.startswith(STUBS)]


def test_read_at_the_locked_revision() -> None:
    lock = json.loads((REPO_ROOT / "flake.lock").read_text(encoding="utf-8"))
    locked_rev = lock["nodes"]["nixpkgs"]["locked"]["rev"]
    rev, _ = constraints()
    assert rev == locked_rev, (
        f"flake.lock moved to {locked_rev}: re-read the versions in nixpkgs at that revision "
        f"and update {CONSTRAINTS.name} (it says {rev})"
    )


def test_every_dependency_is_pinned_within_pyproject_bounds() -> None:
    _, pins = constraints()
    for req in requirements():
        key = canonicalize_name(req.name)
        assert key in pins, f"{req.name} (pyproject.toml) has no nixpkgs version in {CONSTRAINTS}"
        assert req.specifier.contains(pins[key], prereleases=True), (
            f"nixpkgs ships {req.name} {pins[key]}, outside pyproject.toml's {req.specifier}"
        )
