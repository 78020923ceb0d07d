"""Redocly's recommended ruleset passes on our own /openapi.json without errors (it flags, among
others, operations without `security`). Runs when @redocly/cli is installed: on PATH as
`redocly`, or under REDOCLY_PREFIX (default /tmp/redocly, `npm install --prefix /tmp/redocly
@redocly/cli`); CI installs it, so there it always runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from server.web.openapi import build_openapi


def redocly() -> str | None:
    prefix = Path(os.environ.get("REDOCLY_PREFIX", "/tmp/redocly"))
    local = prefix / "node_modules" / ".bin" / "redocly"
    return str(local) if local.exists() else shutil.which("redocly")


def test_redocly_recommended_has_no_errors(app: Flask, tmp_path: Path) -> None:
    binary = redocly()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install @redocly/cli (npm install --prefix /tmp/redocly ...)")
        pytest.skip(
            "@redocly/cli is not installed (npm install --prefix /tmp/redocly @redocly/cli)"
        )
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(build_openapi(app)))
    result = subprocess.run(
        [binary, "lint", "--extends", "recommended", "--format", "json", str(document)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
    )
    report = json.loads(result.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    assert result.returncode == 0, result.stderr[-2000:]
    # Every operation but the public ones names a security requirement.
    for path, item in build_openapi(app)["paths"].items():
        for operation in item.values():
            assert operation["security"] or path.startswith("/health/"), path
