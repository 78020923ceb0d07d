"""Every Nix file in the repository parses (`nix-instantiate --parse`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_parses(nix_file: Path, nix_parse: Callable[[Path], CompletedProcess[str]]) -> None:
    proc = nix_parse(nix_file)
    assert proc.returncode == 0, f"{nix_file.relative_to(REPO_ROOT)}:\n{proc.stderr}"
