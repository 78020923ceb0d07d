"""stack/process-compose-config.sh, which script/server and `nix run` use: process-compose
starts without its "config home" debug lines, and a user's own config directory still wins."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.tools import missing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SNIPPET = REPO_ROOT / "stack" / "process-compose-config.sh"
NOISE = "Path not found for process compose config home"


def process_compose() -> str:
    exe = shutil.which("process-compose")
    if exe is None:
        missing_tool("process-compose is not on PATH (script/bootstrap builds it)")
    return exe


def run(script: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """bash -euo pipefail, as script/server and writeShellApplication run, with the snippet
    sourced and a HOME (and so an XDG config home) of the test's own."""
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **extra}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f'. "{SNIPPET}"\n{script}'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_process_compose_starts_quietly_with_it(tmp_path: Path) -> None:
    exe = process_compose()
    home = tmp_path / "home"
    home.mkdir()
    # The premise, with the real process-compose: without a config directory it is noisy.
    bare = run(f'"{exe}" version', home, XDG_CONFIG_DIRS=str(tmp_path / "none"))
    assert bare.returncode == 0, bare.stderr
    assert NOISE in bare.stderr
    quiet = run(
        f'process_compose_config "{tmp_path / "state"}"\n"{exe}" version',
        home,
        XDG_CONFIG_DIRS=str(tmp_path / "none"),
    )
    assert quiet.returncode == 0, quiet.stderr
    assert NOISE not in quiet.stderr
    assert quiet.stderr.strip() == ""
    assert (tmp_path / "state" / "process-compose").is_dir()


@pytest.mark.parametrize(
    "where", ["XDG_CONFIG_HOME", "HOME/.config", "XDG_CONFIG_DIRS", "HOME/Library (macOS)"]
)
def test_a_users_config_directory_wins(tmp_path: Path, where: str) -> None:
    home = tmp_path / "home"
    extra = {"XDG_CONFIG_DIRS": f"{tmp_path / 'none'}:{tmp_path / 'dirs'}"}
    config = {
        "XDG_CONFIG_HOME": tmp_path / "xdg",
        "HOME/.config": home / ".config",
        "XDG_CONFIG_DIRS": tmp_path / "dirs",
        "HOME/Library (macOS)": home / "Library" / "Application Support",
    }[where]
    if where == "XDG_CONFIG_HOME":
        extra["XDG_CONFIG_HOME"] = str(config)
    (config / "process-compose").mkdir(parents=True)
    proc = run(
        f'process_compose_config "{tmp_path / "state"}"\necho "[${{PROC_COMP_CONFIG:-}}]"',
        home,
        **extra,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert not (tmp_path / "state").exists()


def test_a_value_set_by_hand_is_kept(tmp_path: Path) -> None:
    proc = run(
        f'process_compose_config "{tmp_path / "state"}"\necho "[$PROC_COMP_CONFIG]"',
        tmp_path,
        PROC_COMP_CONFIG="/somewhere",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[/somewhere]"
