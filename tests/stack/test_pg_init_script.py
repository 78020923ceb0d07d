"""The stack's shell scripts (stack/*.sh) pass shellcheck, and process-compose.yaml runs them
from STACK_SCRIPTS_DIR (`nix run` ships them in the store) rather than inline `$$` shell."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO_ROOT / "stack").glob("*.sh"))


def shellcheck() -> str:
    exe = shutil.which("shellcheck")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck missing in CI (apt-get install shellcheck)", pytrace=False)
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    return exe


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_script_passes_shellcheck(script: Path) -> None:
    proc = subprocess.run(
        [shellcheck(), "--shell=bash", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pg_init_is_the_script() -> None:
    doc = yaml.safe_load((REPO_ROOT / "process-compose.yaml").read_text(encoding="utf-8"))
    assert doc["vars"]["SCRIPTS_DIR"] == "${STACK_SCRIPTS_DIR:-stack}"
    command = doc["processes"]["pg-init"]["command"]
    assert command.startswith('bash "{{.SCRIPTS_DIR}}/pg-init.sh"')
    assert "$$" not in command
    assert (REPO_ROOT / "stack" / "pg-init.sh").is_file()
