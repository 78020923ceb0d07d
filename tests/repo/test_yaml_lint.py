"""Every YAML file of the repository passes yamllint, strictly, with its config
(.yamllint.yaml): the stack, the Kubernetes manifests, the CI workflow, Spectral's rules.

A value YAML 1.1 reads as a boolean (`off`, `yes`) is the kind of thing it finds: Spectral's
`off` is a string to its YAML 1.2 parser and `false` to a 1.1 one."""

from __future__ import annotations

import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from support.tools import missing_tool
from support.tracked import tracked_files

ROOT = Path(__file__).resolve().parents[2]


def yamllint(*args: str) -> subprocess.CompletedProcess[str]:
    """``yamllint ARGS`` in the repository, parsable output."""
    if find_spec("yamllint") is None:
        missing_tool("yamllint is not installed (pyproject's dev extra)")
    return subprocess.run(
        [sys.executable, "-m", "yamllint", "--format", "parsable", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_yaml_files_pass_yamllint() -> None:
    files = [str(path.relative_to(ROOT)) for path in tracked_files(".yaml", ".yml")]
    assert {"process-compose.yaml", ".yamllint.yaml"} <= set(files)
    result = yamllint("--strict", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_finds_what_the_config_forbids(tmp_path: Path) -> None:
    """The config is the repository's, and not one that lets everything through."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  some-rule: off\n  long: " + "x" * 100 + "\n")
    result = yamllint("--config-file", str(ROOT / ".yamllint.yaml"), str(bad))
    assert "(truthy)" in result.stdout, result.stdout
    assert "(line-length)" in result.stdout, result.stdout
