"""The repository's files as a flake copies them (git's tracked ones): what the linters read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def tracked_files(*suffixes: str) -> list[Path]:
    """Every file ending in one of ``suffixes`` (".nix") that git tracks (or would track:
    untracked, not ignored) in the repo; every such file without git."""
    everything = sorted(
        p
        for suffix in suffixes
        for p in REPO_ROOT.rglob(f"*{suffix}")
        if ".git" not in p.parts and p.is_file()
    )
    git = shutil.which("git")
    if git is None or not (REPO_ROOT / ".git").exists():
        return everything
    proc = subprocess.run(
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--"]
        + [f"*{suffix}" for suffix in suffixes],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:  # e.g. "dubious ownership" when run as another user
        return everything
    return sorted({REPO_ROOT / name for name in proc.stdout.split("\0") if name})
