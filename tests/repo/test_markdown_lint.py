"""Every Markdown file of the repository passes markdownlint with its config
(.markdownlint.yaml): the README, CONTRIBUTING and docs/.

Wrapped prose is where Markdown goes wrong unseen: docs/operations.md had a line that began
"+ 1 byte;", which renders as a list item in the middle of a paragraph (MD032 finds it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support.tools import npm_tool
from support.tracked import tracked_files

ROOT = Path(__file__).resolve().parents[2]


def markdownlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = npm_tool("markdownlint-cli2", "markdownlint-cli2")
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_markdown_files_pass_markdownlint() -> None:
    files = [str(path.relative_to(ROOT)) for path in tracked_files(".md")]
    assert {"README.md", "CONTRIBUTING.md", "docs/api.md"} <= set(files)
    result = markdownlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_line_that_starts_a_list_mid_paragraph_is_found(tmp_path: Path) -> None:
    """The config is the repository's, and it finds the kind of slip it is there for."""
    shutil.copy(ROOT / ".markdownlint.yaml", tmp_path)
    (tmp_path / "slip.md").write_text(
        "# Title\n\nThe body is read up to `APP_MAX_CONTENT_LENGTH`\n+ 1 byte, then refused.\n"
    )
    result = markdownlint("slip.md", cwd=tmp_path)
    assert "MD032" in result.stdout + result.stderr, result.stdout + result.stderr
