"""/api/v1/tasks: tags, filters, updates."""

from __future__ import annotations

from support.api import create_project, create_task
from support.auth import AuthenticatedClient


def project(client: AuthenticatedClient, name: str = "Home") -> int:
    return int(create_project(client, name)["id"])


def test_create_with_tags_and_due_date(client: AuthenticatedClient) -> None:
    pid = project(client)
    body = create_task(
        client, pid, "Paint", tags=["Red", "blue", "red"], due_at="2030-01-02T03:04:05Z"
    )
    assert body["tags"] == ["blue", "red"]  # lower-cased, deduplicated, sorted
    assert body["status"] == "todo"
    assert body["due_at"] == "2030-01-02T03:04:05Z"
    tags = client.get("/api/v1/tags").json
    assert [t["name"] for t in tags["items"]] == ["blue", "red"]


def test_filters(client: AuthenticatedClient) -> None:
    home, work = project(client, "Home"), project(client, "Work")
    create_task(client, home, "a", tags=["x"])
    create_task(client, home, "b", status="done")
    create_task(client, work, "c", tags=["x"], status="done")

    def titles(query: str) -> list[str]:
        response = client.get(f"/api/v1/tasks?{query}")
        assert response.status_code == 200, response.json
        return [t["title"] for t in response.json["items"]]

    assert titles(f"project_id={home}") == ["a", "b"]
    assert titles("status=done") == ["b", "c"]
    assert titles("tag=x") == ["a", "c"]
    assert titles(f"tag=X&status=done&project_id={work}") == ["c"]
    assert titles("tag=nope") == []
    assert client.get("/api/v1/tasks?status=done").json["total"] == 2


def test_patch_changes_only_given_fields_and_tags(client: AuthenticatedClient) -> None:
    pid = project(client)
    created = create_task(
        client, pid, "Write", description="draft", tags=["a"], due_at="2030-01-01T00:00:00Z"
    )
    url = f"/api/v1/tasks/{created['id']}"
    changed = client.patch(url, json={"status": "doing", "tags": ["b", "c"]}).json
    assert changed["status"] == "doing"
    assert changed["tags"] == ["b", "c"]
    assert changed["description"] == "draft"
    assert changed["version"] == 2
    cleared = client.patch(url, json={"due_at": None}).json
    assert cleared["due_at"] is None
    assert cleared["tags"] == ["b", "c"]


def test_tag_only_change_bumps_version(client: AuthenticatedClient) -> None:
    pid = project(client)
    created = create_task(client, pid, "t", tags=["a"])
    changed = client.patch(f"/api/v1/tasks/{created['id']}", json={"tags": ["z"]})
    assert changed.json["version"] == created["version"] + 1
    assert changed.headers["ETag"] == f'"v{created["version"] + 1}"'


def test_put_replaces_and_can_move_project(client: AuthenticatedClient) -> None:
    home, work = project(client, "Home"), project(client, "Work")
    created = create_task(client, home, "t", description="d", tags=["a"])
    replaced = client.put(
        f"/api/v1/tasks/{created['id']}", json={"project_id": work, "title": "T2"}
    ).json
    assert (replaced["project_id"], replaced["title"], replaced["description"]) == (work, "T2", "")
    assert replaced["tags"] == []


def test_unknown_project_is_404_and_writes_nothing(client: AuthenticatedClient) -> None:
    """A body the document allows, naming a project that is not there: 404, as the project's
    own URL answers (not 422, which says the request broke the document's rules), with the
    field named."""
    response = client.post(
        "/api/v1/tasks", json={"project_id": 424242, "title": "t", "tags": ["n"]}
    )
    assert response.status_code == 404
    assert response.json["type"].endswith("/not-found")
    assert response.json["errors"] == [
        {"in": "body", "field": "project_id", "message": "no such project", "type": "not_found"}
    ]
    assert client.get("/api/v1/tasks").json["total"] == 0
    assert client.get("/api/v1/tags").json["total"] == 0
    pid = project(client)
    created = create_task(client, pid, "t")
    moved = client.patch(f"/api/v1/tasks/{created['id']}", json={"project_id": 424242})
    assert moved.status_code == 404


def test_delete(client: AuthenticatedClient) -> None:
    created = create_task(client, project(client), "t", tags=["keep"])
    assert client.delete(f"/api/v1/tasks/{created['id']}").status_code == 204
    assert client.get(f"/api/v1/tasks/{created['id']}").status_code == 404
    assert client.get("/api/v1/tags").json["total"] == 1  # tags outlive their tasks


def test_bad_status_and_naive_datetime_are_422(client: AuthenticatedClient) -> None:
    pid = project(client)
    bad = client.post("/api/v1/tasks", json={"project_id": pid, "title": "t", "status": "lost"})
    assert bad.status_code == 422
    assert bad.json["errors"][0]["field"] == "status"
    naive = client.post(
        "/api/v1/tasks", json={"project_id": pid, "title": "t", "due_at": "2030-01-01T00:00:00"}
    )
    assert naive.status_code == 422
    assert client.get("/api/v1/tasks?status=lost").status_code == 422
