"""The /docs page renders the API's operations in a real browser (headless Chromium), served by
gunicorn with nothing fetched from another origin."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from support.processes import app_env, authed, gunicorn_server, run_cli
from support.servers import Postgres

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a sandbox without a display or network (see the machine notes): no GPU, no
# background connections, a throwaway profile.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=20000",
]


@pytest.fixture(scope="module")
def docs_url(pg: Postgres, redis_url: str) -> Iterator[str]:
    env = app_env(pg.create_database("fns_docs"), redis_url)
    run_cli("db", "upgrade", env=env)
    with gunicorn_server(env) as server:
        yield f"{server.base}/docs"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_docs_page_renders_every_operation(docs_url: str) -> None:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="fns-chromium-") as profile:
        result = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", docs_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # Swagger UI built one block per operation from /openapi.json.
    document = authed.get(docs_url.replace("/docs", "/openapi.json"), timeout=10).json()
    operations = sum(len(item) for item in document["paths"].values())
    assert operations > 18
    assert dom.count('class="opblock opblock-') == operations, dom[-3000:]
    for summary in (
        "Create a task in a project, with tags.",
        "List projects, with their task counts.",
    ):
        assert summary in dom
    assert "/api/v1/tasks/{task_id}" in dom.replace("&#8203;", "").replace("\u200b", "")
    assert "Failed to load API definition" not in dom
