"""The served OpenAPI document as linters judge it: openapi-spec-validator finds it valid, and
Spectral's `spectral:oas` ruleset (.spectral.yaml) reports nothing, not even a hint."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from support.auth import AuthenticatedClient
from support.tools import npm_tool

ROOT = Path(__file__).resolve().parent.parent


def spectral() -> str:
    """The Spectral CLI ($SPECTRAL, else the npm tool); skips without it, except in CI, which
    installs it (script/bootstrap)."""
    return os.environ.get("SPECTRAL") or npm_tool("spectral", "Spectral")


@pytest.fixture
def document(client: AuthenticatedClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    result: dict[str, Any] = answer.json
    return result


def test_openapi_spec_validator_finds_it_valid(document: dict[str, Any]) -> None:
    validate(document)  # raises on the first violation of the OpenAPI 3.1 schema


def test_spectral_reports_nothing(document: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [
            spectral(),
            "lint",
            "--ruleset",
            str(ROOT / ".spectral.yaml"),
            "--format",
            "json",
            "--fail-severity",
            "hint",
            "--quiet",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings = json.loads(result.stdout) if result.stdout.strip() else None
    assert findings == [], result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
