"""A client generated from /openapi.json by openapi-python-client type-checks under mypy --strict
(so does docs/api.md's example of its use) and drives the API: projects and tasks created, read,
paged by `after`, changed with If-Match and deleted, and each error parsed as a problem document.
In-process (httpx's WSGI transport into the test app on real PostgreSQL and Redis): no server is
started. Runs when openapi-python-client is installed (a dev dependency); skips without it, except
in CI."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask

from server.web.openapi import build_openapi

from support.auth import default_token
from support.docs import fenced
from support.tools import missing_tool

PACKAGE = "fns_generated_client"
# docs/api.md shows the client in use; its example has to type-check against it too.
API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def documented_example() -> str:
    """docs/api.md's Python example, on the generated package, with its TOKEN defined."""
    (example,) = fenced(API_DOC.read_text(), "python")
    assert "flask_nix_stack_client" in example
    return 'TOKEN = "fns_example"\n' + example.replace("flask_nix_stack_client", PACKAGE)


def generator() -> str:
    beside = Path(sys.executable).parent / "openapi-python-client"
    found = str(beside) if beside.exists() else shutil.which("openapi-python-client")
    if found is None:
        missing_tool("openapi-python-client is not installed (pip install -e '.[dev]')")
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated package's parent directory, importable while the module's tests run."""
    root = tmp_path_factory.mktemp("generated")
    yield root
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_generated_client_type_checks_and_drives_the_api(
    app: Flask, generated: Path, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(build_openapi(app)))
    # No post hooks: they run whatever ruff is on PATH with its own default rules, and a newer
    # ruff's fixes (`*args: Any` to `object` in client.py) break the code mypy then checks.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    result = subprocess.run(
        [
            generator(),
            "generate",
            "--config",
            str(config),
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(generated / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    # Warnings point at the document (a skipped operation, a schema it could not read).
    assert "Warning" not in output, output[-4000:]
    # docs/ is in a checkout, not in the Nix build's source (tests/repo/test_docs.py checks
    # that the example is there).
    examples = ["docs_example.py"] if API_DOC.exists() else []
    for example in examples:
        (generated / example).write_text(documented_example())
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            PACKAGE,
            *examples,
        ],
        cwd=generated,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout[-4000:]

    sys.path.insert(0, str(generated))
    try:
        drive(app, importlib.import_module(PACKAGE))
    finally:
        sys.path.remove(str(generated))


def module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def drive(app: Flask, package: ModuleType) -> None:
    """What an outside reviewer does with the client: a full CRUD flow, errors included."""
    import httpx  # pyright: ignore[reportMissingImports] (with openapi-python-client only)

    models = module(package, "models")
    projects = {
        name: module(package, f"api.projects.{name}")
        for name in (
            "create_project",
            "get_project",
            "list_projects",
            "update_project",
            "delete_project",
        )
    }
    tasks = {
        name: module(package, f"api.tasks.{name}")
        for name in ("create_task", "list_tasks", "delete_task", "get_task")
    }
    client = package.AuthenticatedClient(
        base_url="http://localhost",
        token=default_token(),
        httpx_args={"transport": httpx.WSGITransport(app=app)},
    )

    created = projects["create_project"].sync_detailed(
        client=client, body=models.ProjectCreate(name="generated", description="x")
    )
    assert created.status_code == 201, created.content
    project = created.parsed
    assert isinstance(project, models.ProjectOut)
    assert created.headers["Location"].endswith(f"/projects/{project.id}")
    etag = created.headers["ETag"]

    read = projects["get_project"].sync_detailed(project.id, client=client)
    assert read.parsed.name == "generated"
    assert read.headers["ETag"] == etag

    changed = projects["update_project"].sync_detailed(
        project.id, client=client, body=models.ProjectUpdate(description="y"), if_match=etag
    )
    assert isinstance(changed.parsed, models.ProjectOut)
    assert changed.parsed.version == 2
    stale = projects["update_project"].sync_detailed(
        project.id, client=client, body=models.ProjectUpdate(description="z"), if_match=etag
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.ProblemDetails)
    assert stale.parsed.type_.endswith("/precondition-failed")

    invalid = projects["create_project"].sync_detailed(
        client=client, body=models.ProjectCreate(name="")
    )
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.ProblemDetails)
    (error,) = invalid.parsed.errors
    assert (error.in_, error.field) == (models.FieldLocation.BODY, "name")

    ids = [project.id] + [
        projects["create_project"].sync(client=client, body=models.ProjectCreate(name=f"p{i}")).id
        for i in range(2)
    ]
    seen: list[int] = []
    page = projects["list_projects"].sync(client=client, limit=2)
    while True:
        assert isinstance(page, models.PageProjectOut), page
        seen += [item.id for item in page.items]
        if page.next_ is None:
            break
        page = projects["list_projects"].sync(client=client, limit=2, after=page.items[-1].id)
    assert sorted(seen) == sorted(set(seen))
    assert set(ids) <= set(seen)

    task = tasks["create_task"].sync(
        client=client,
        body=models.TaskCreate(project_id=project.id, title="t", tags=["x"]),
    )
    assert isinstance(task, models.TaskOut)
    assert task.status == models.TaskStatus.TODO
    listed = tasks["list_tasks"].sync(
        client=client, project_id=project.id, status=models.TaskStatus.TODO
    )
    assert [t.id for t in listed.items] == [task.id]
    assert tasks["delete_task"].sync_detailed(task.id, client=client).status_code == 204
    gone = tasks["get_task"].sync_detailed(task.id, client=client)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.ProblemDetails)

    for ident in ids:
        assert projects["delete_project"].sync_detailed(ident, client=client).status_code == 204
