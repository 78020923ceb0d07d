"""The repository's Nix files, as a flake copies them: what the Nix linters look at."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def tracked_nix_files() -> list[Path]:
    """Every `*.nix` file git tracks (or would track: untracked, not ignored) in the repo."""
    everything = sorted(p for p in REPO_ROOT.rglob("*.nix") if ".git" not in p.parts)
    git = shutil.which("git")
    if git is None or not (REPO_ROOT / ".git").exists():
        return everything
    proc = subprocess.run(
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.nix"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:  # e.g. "dubious ownership" when run as another user
        return everything
    return sorted({REPO_ROOT / name for name in proc.stdout.split("\0") if name})
