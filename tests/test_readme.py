"""Every setting is documented once in the README and in .env.example, and nowhere misspelt."""

from __future__ import annotations

import re
from pathlib import Path

from server.config import Settings

ROOT = Path(__file__).resolve().parent.parent
NAMES = {f"APP_{name.upper()}" for name in Settings.model_fields}
# Read before Settings exists, and the placeholder the docs use for "any setting".
ALSO_ALLOWED = {"APP_SECRETS_DIR", "APP_ENV_FILE", "APP_NAME"}


def mentioned(text: str) -> set[str]:
    return set(re.findall(r"\bAPP_[A-Z0-9_]*[A-Z0-9]\b", text))


def test_readme_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = set(re.findall(r"^\| `(APP_[A-Z0-9_]+)` \|", readme, re.MULTILINE))
    assert rows == NAMES


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    assert set(re.findall(r"^# (APP_[A-Z0-9_]+)=", example, re.MULTILINE)) == NAMES


def test_docs_name_no_unknown_setting() -> None:
    for doc in ("README.md", ".env.example"):
        unknown = mentioned((ROOT / doc).read_text()) - NAMES - ALSO_ALLOWED
        # Prefixes written with a trailing underscore (APP_PROXY_FIX_X_FOR/_X_PROTO) are fine.
        unknown = {name for name in unknown if not any(n.startswith(name) for n in NAMES)}
        assert unknown == set(), f"{doc} names settings that do not exist: {unknown}"
