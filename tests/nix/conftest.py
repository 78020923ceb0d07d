"""Helpers for the Nix tests: find `nix-instantiate` and nixpkgs' `lib`, evaluate to JSON.

This machine has Nix 2.8 but no nixpkgs, no binary cache and (for an unprivileged user) no
writable /nix/store, so only parsing and pure evaluation against `nixpkgs.lib` are possible.
`--store dummy://` lets a non-root user evaluate (even `"${./path}"` is hashed, not copied);
without it Nix 2.8 tries the daemon socket or `mkdir /nix/store` and fails.

Use the fixtures (`nix_eval`, `nix_parse`, `nixpkgs_lib`) rather than importing this module:
several directories have a `conftest.py`, so `from conftest import ...` is ambiguous.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from support.tools import missing_tool
from support.tracked import tracked_files

REPO_ROOT = Path(__file__).resolve().parents[2]

# Where `<nixpkgs/lib>` may live when NIX_PATH does not say: first ../shared/nixpkgs-lib beside
# the repository (nixpkgs' lib at the 26.05 branch-off; CI's clone has a copy of shared/ there),
# then the places older setups used.
FALLBACK_NIXPKGS = (
    REPO_ROOT.parent / "shared" / "nixpkgs-lib",
    Path("/opt/nixpkgs-lib"),
    Path.home() / ".nix-defexpr" / "channels" / "nixpkgs",
)


def skip_or_fail(reason: str) -> None:
    """Skip with the reason on a developer machine; CI must run every Nix test."""
    missing_tool(reason)


EVAL_TIMEOUT_S = 120


def nix_instantiate() -> str:
    """Return the path of `nix-instantiate`, or skip the test saying it is missing."""
    exe = shutil.which("nix-instantiate")
    if exe is None:
        skip_or_fail("nix-instantiate not found on PATH (apt-get install nix-bin)")
        raise AssertionError("unreachable")
    return exe


def _nix_path_entry(name: str, nix_path: str) -> Path | None:
    """Return the directory bound to `name=` in a NIX_PATH string, if any."""
    for entry in nix_path.split(":"):
        key, sep, value = entry.partition("=")
        if sep and key == name and value:
            # Relative entries (NIX_PATH=nixpkgs=../shared/nixpkgs-lib) mean the repository root.
            path = Path(value)
            return path if path.is_absolute() else (REPO_ROOT / path).resolve()
    return None


def _usable_nixpkgs(root: Path) -> bool:
    try:
        return (root / "lib" / "default.nix").is_file() and os.access(
            root / "lib" / "default.nix", os.R_OK
        )
    except OSError:  # e.g. /root/... stat as a non-root user
        return False


def find_nixpkgs() -> Path | None:
    """Return a readable directory `D` such that `D/lib/default.nix` is nixpkgs' lib, or None."""
    candidates: list[Path] = []
    from_env = _nix_path_entry("nixpkgs", os.environ.get("NIX_PATH", ""))
    if from_env is not None:
        candidates.append(from_env)
    candidates.extend(FALLBACK_NIXPKGS)
    return next((c for c in candidates if _usable_nixpkgs(c)), None)


def _base_cmd(exe: str) -> list[str]:
    # dummy:// store: evaluation never needs a real store here, and fns cannot write /nix.
    return [exe, "--store", "dummy://"]


def _env(nixpkgs: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    # lib.warn aborts instead of printing (lib/trivial.nix emulates Nix 2.23's NIX_ABORT_ON_WARN):
    # a deprecated lib function or option type fails the evaluation here, not only in a log.
    env["NIX_ABORT_ON_WARN"] = "1"
    if nixpkgs is not None:
        env["NIX_PATH"] = f"nixpkgs={nixpkgs}"
    return env


def _run(cmd: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=REPO_ROOT,
        timeout=EVAL_TIMEOUT_S,
        check=False,
    )


def nix_parse(path: Path) -> subprocess.CompletedProcess[str]:
    """Run `nix-instantiate --parse` on one file and return the completed process."""
    return _run([*_base_cmd(nix_instantiate()), "--parse", str(path)], _env(None))


def nix_eval(
    expr_or_file: str | Path,
    *,
    args: Mapping[str, str] | None = None,
    argstrs: Mapping[str, str] | None = None,
    attr: str | None = None,
    needs_lib: bool = True,
) -> Any:
    """Evaluate a Nix expression (str) or file (Path) strictly and return the parsed JSON.

    `args` are passed as `--arg NAME EXPR`, `argstrs` as `--argstr NAME VALUE`, `attr` as
    `-A ATTR`. Relative paths in an expression resolve against the repository root. When
    `needs_lib` is true the test is skipped (with the reason) unless `<nixpkgs/lib>` resolves.
    A failed evaluation fails the test with Nix's own error message.
    """
    exe = nix_instantiate()
    nixpkgs = find_nixpkgs()
    if needs_lib and nixpkgs is None:
        skip_or_fail(
            "<nixpkgs/lib> not found: set NIX_PATH=nixpkgs=../shared/nixpkgs-lib (relative to "
            "the repository) or put nixpkgs' lib there"
        )
    cmd = [*_base_cmd(exe), "--eval", "--strict", "--json"]
    for name, expr in (args or {}).items():
        cmd += ["--arg", name, expr]
    for name, value in (argstrs or {}).items():
        cmd += ["--argstr", name, value]
    if attr is not None:
        cmd += ["-A", attr]
    if isinstance(expr_or_file, Path):
        cmd.append(str(expr_or_file))
    else:
        cmd += ["-E", expr_or_file]
    proc = _run(cmd, _env(nixpkgs))
    if proc.returncode != 0:
        pytest.fail(f"nix evaluation failed ({' '.join(cmd)}):\n{proc.stderr}", pytrace=False)
    return json.loads(proc.stdout)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize any test taking `nix_file` over every Nix file of the repository."""
    if "nix_file" in metafunc.fixturenames:
        files = tracked_files(".nix")
        metafunc.parametrize("nix_file", files, ids=[str(f.relative_to(REPO_ROOT)) for f in files])


@pytest.fixture(name="tracked_nix", scope="session")
def tracked_nix_fixture() -> list[Path]:
    """`tracked_files(".nix")`, as a fixture: every Nix file a flake would copy."""
    return tracked_files(".nix")


@pytest.fixture(name="deadnix", scope="session")
def deadnix_fixture() -> str:
    """The `deadnix` program (script/bootstrap test builds it with cargo); skips without it."""
    exe = shutil.which("deadnix")
    if exe is None:
        skip_or_fail(
            "deadnix not found on PATH (script/bootstrap test builds it from crates.io with a "
            "rustup cargo: cargo install --locked deadnix)"
        )
        raise AssertionError("unreachable")
    return exe


@pytest.fixture(name="nix_eval", scope="session")
def nix_eval_fixture() -> Callable[..., Any]:
    """The `nix_eval` helper above, as a fixture."""
    return nix_eval


@pytest.fixture(name="nix_parse", scope="session")
def nix_parse_fixture() -> Callable[[Path], subprocess.CompletedProcess[str]]:
    """The `nix_parse` helper above, as a fixture."""
    return nix_parse


@pytest.fixture(name="nixpkgs_lib", scope="session")
def nixpkgs_lib_fixture() -> Path:
    """The directory that `<nixpkgs>` resolves to for evaluation; skips when there is none."""
    nixpkgs = find_nixpkgs()
    if nixpkgs is None:
        skip_or_fail("<nixpkgs/lib> not found (see nix_eval)")
        raise AssertionError("unreachable")
    return nixpkgs
