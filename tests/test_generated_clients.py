"""Clients generated from /openapi.json drive the API: projects and tasks created, read, paged
by `after`, changed with If-Match and deleted, dates set and cleared, and each error parsed as a
problem document. In-process (the test app on real PostgreSQL and Redis): no server is started.

- openapi-python-client's (a dev dependency), through httpx's WSGI transport; it type-checks
  under mypy --strict, and so does docs/api.md's example of its use.
- openapi-generator's Python client, at the release nixpkgs packages (script/bootstrap fetches
  its jar into .tools/; `nix develop` has it as openapi-generator-cli), its urllib3 pool
  answered by Flask's test client.

Each skips without its generator, except in CI."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from urllib3 import HTTPHeaderDict

from server.web.openapi import build_openapi

from support.auth import default_token
from support.docs import fenced
from support.tools import missing_tool

PACKAGE = "fns_generated_client"
# A date each client sends as the document's date-time and reads back as the same instant.
DUE = datetime(2026, 12, 24, 17, 0, 30, 250000, tzinfo=timezone(timedelta(hours=5, minutes=30)))
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
    # Warnings point at the document (a skipped operation, a schema it could not read).
    run_generator(
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
        refused="Warning",
    )
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


def run_generator(command: list[str], *, refused: str) -> None:
    """Run a client generator: it must succeed without printing ``refused``."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert refused not in output, output[-4000:]


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
        body=models.TaskCreate(project_id=project.id, title="t", tags=["x"], due_at=DUE),
    )
    assert isinstance(task, models.TaskOut)
    assert (task.status, task.due_at) == (models.TaskStatus.TODO, DUE)
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


# openapi-generator's client, a package of its own name beside the other.
OAG_PACKAGE = "fns_oag_client"
# Where script/bootstrap puts openapi-generator's jar (the release nixpkgs packages).
OAG_JAR = Path(__file__).resolve().parent.parent / ".tools" / "openapi-generator-cli.jar"


def openapi_generator() -> list[str]:
    """The command that runs openapi-generator: `nix develop`'s, else .tools/' jar on the
    machine's Java."""
    found = shutil.which("openapi-generator-cli")
    if found is not None:
        return [found]
    java = shutil.which("java")
    if java is None or not OAG_JAR.exists():
        missing_tool(
            "openapi-generator-cli is not installed (script/bootstrap test fetches its jar into "
            ".tools/, which needs a Java runtime; nix develop has it)"
        )
    return [java, "-jar", str(OAG_JAR)]


class InProcessPool:
    """What the generated rest.py asks of urllib3's PoolManager, answered by the app."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def request(
        self,
        method: str,
        url: str,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        **_: Any,
    ) -> Any:
        parts = urlsplit(url)
        answer = self.client.open(
            parts.path, method=method, query_string=parts.query, data=body, headers=headers
        )
        return SimpleNamespace(
            status=answer.status_code,
            reason=answer.status.partition(" ")[2],
            data=answer.get_data(),
            # What urllib3 answers with; the client copies it into a dict.
            headers=HTTPHeaderDict(list(answer.headers.items())),
        )


def test_openapi_generator_python_client_drives_the_api(
    app: Flask, generated: Path, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(build_openapi(app)))
    run_generator(
        [
            *openapi_generator(),
            "generate",
            "--generator-name",
            "python",
            "--input-spec",
            str(document),
            "--output",
            str(tmp_path / "oag"),
            "--package-name",
            OAG_PACKAGE,
            # The package alone: no tests or docs of its own to write.
            "--global-property",
            "apiTests=false,modelTests=false,apiDocs=false,modelDocs=false",
        ],
        refused="ERROR",
    )
    (tmp_path / "oag" / OAG_PACKAGE).rename(generated / OAG_PACKAGE)

    sys.path.insert(0, str(generated))
    try:
        drive_oag(app, importlib.import_module(OAG_PACKAGE))
    finally:
        sys.path.remove(str(generated))


def drive_oag(app: Flask, package: ModuleType) -> None:
    """The flow of drive() above, in openapi-generator's terms, and the dates it turns into
    datetimes both ways."""
    api = module(package, "api")
    models = module(package, "models")
    exceptions = module(package, "exceptions")
    client = package.ApiClient(
        package.Configuration(host="http://localhost", access_token=default_token())
    )
    client.rest_client.pool_manager = InProcessPool(app)
    projects, tasks = api.ProjectsApi(client), api.TasksApi(client)

    created = projects.create_project_with_http_info(
        models.ProjectCreate(name="generated by openapi-generator", description="x")
    )
    assert created.status_code == 201
    project = created.data
    assert isinstance(project, models.ProjectOut)
    # A dict whose keys are as the server spelt them (granian sends them in lower case).
    etag = {name.lower(): value for name, value in (created.headers or {}).items()}["etag"]
    changed = projects.update_project(project.id, models.ProjectUpdate(description="y"), etag)
    assert (changed.description, changed.version) == ("y", 2)
    with pytest.raises(exceptions.ApiException) as stale:
        projects.update_project(project.id, models.ProjectUpdate(description="z"), etag)
    assert stale.value.status == 412
    problem = models.ProblemDetails.from_json(stale.value.body)
    assert problem.type.endswith("/precondition-failed")

    others = [projects.create_project(models.ProjectCreate(name=f"oag {i}")).id for i in range(2)]
    seen: list[int] = []
    page = projects.list_projects(limit=2)
    while True:
        seen += [item.id for item in page.items]
        if page.next is None:
            break
        page = projects.list_projects(limit=2, after=page.items[-1].id)
    assert {project.id, *others} <= set(seen)
    assert len(seen) == len(set(seen))

    task = tasks.create_task(
        models.TaskCreate(project_id=project.id, title="t", tags=["x"], due_at=DUE)
    )
    assert isinstance(task, models.TaskOut)
    assert (task.due_at, task.status, task.tags) == (DUE, models.TaskStatus.TODO, ["x"])
    moved = tasks.update_task(task.id, models.TaskUpdate(due_at=DUE + timedelta(days=1)))
    assert moved.due_at == DUE + timedelta(days=1)
    cleared = tasks.update_task(task.id, models.TaskUpdate(due_at=None))
    assert cleared.due_at is None
    listed = tasks.list_tasks(project_id=project.id, status=models.TaskStatus.TODO, tag="x")
    assert [t.id for t in listed.items] == [task.id]

    tasks.delete_task(task.id)
    with pytest.raises(exceptions.NotFoundException) as gone:
        tasks.get_task(task.id)
    assert models.ProblemDetails.from_json(gone.value.body).status == 404
    for ident in [project.id, *others]:
        projects.delete_project(ident)
