"""nixfmt --check on every Nix file, as checks.nixfmt runs it in `nix flake check`.

nixfmt (1.x, the RFC 166 style nixpkgs uses) is Haskell and no registry reachable here ships it
(not npm, PyPI or Debian 12), so this test runs where one is on PATH (a session built 1.3.1 from
source) and skips elsewhere, saying so: it is the one lint of the Nix files that a fresh machine
cannot run (deadnix and the VM test driver's lint are in tests/nix and never skip in CI).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from support.tracked import tracked_files


def test_nixfmt_accepts_every_file() -> None:
    tracked_nix = tracked_files(".nix")
    assert tracked_nix, "no Nix files found"
    nixfmt = shutil.which("nixfmt")
    if nixfmt is None:
        pytest.skip(
            "nixfmt not on PATH: no registry reachable here ships it (`nix flake check` runs it "
            "as checks.nixfmt; with Nix: nix run nixpkgs#nixfmt -- --check $(git ls-files '*.nix'))"
        )
    version = subprocess.run(
        [nixfmt, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    # 0.x is nixfmt-classic, a different style from nixpkgs' formatter.
    assert re.match(r"nixfmt [1-9]", version), f"not nixfmt 1.x (RFC 166 style): {version!r}"
    proc = subprocess.run(
        [nixfmt, "--check", *map(str, tracked_nix)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"{version.strip()} --check:\n{proc.stderr}{proc.stdout}"
