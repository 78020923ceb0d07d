"""/api/v1/projects: good and bad input."""

from __future__ import annotations

from flask import Flask

from support.api import create_project
from support.apps import recorded_statements
from support.auth import AuthenticatedClient

PROBLEM = "application/problem+json"


def test_create_and_read(client: AuthenticatedClient) -> None:
    response = client.post("/api/v1/projects", json={"name": "  Alpha  ", "description": "first"})
    assert response.status_code == 201
    body = response.json
    assert body["name"] == "Alpha"  # surrounding spaces stripped
    assert body["description"] == "first"
    assert body["task_count"] == 0
    assert body["version"] == 1
    assert response.headers["Location"] == f"/api/v1/projects/{body['id']}"
    assert response.headers["ETag"] == '"v1"'

    got = client.get(response.headers["Location"])
    assert got.status_code == 200
    assert got.json["name"] == "Alpha"
    assert got.headers["ETag"] == '"v1"'


def test_duplicate_name_is_409(client: AuthenticatedClient) -> None:
    create_project(client, "Same")
    response = client.post("/api/v1/projects", json={"name": "Same"})
    assert response.status_code == 409
    assert response.mimetype == PROBLEM
    assert response.json["type"].endswith("/duplicate")
    # The failed insert left nothing half-written, and the session still works.
    listing = client.get("/api/v1/projects").json
    assert [p["name"] for p in listing["items"]] == ["Same"]


def test_list_paginates_with_total_and_next(client: AuthenticatedClient) -> None:
    for i in range(5):
        create_project(client, f"P{i}")
    page = client.get("/api/v1/projects?limit=2").json
    assert [p["name"] for p in page["items"]] == ["P0", "P1"]
    assert page["total"] == 5
    assert page["next"] == f"/api/v1/projects?limit=2&after={page['items'][1]['id']}"
    last = client.get("/api/v1/projects?limit=2&offset=4").json
    assert [p["name"] for p in last["items"]] == ["P4"]
    assert last["next"] is None


def test_list_filters_by_name(client: AuthenticatedClient) -> None:
    create_project(client, "Garden")
    create_project(client, "Kitchen")
    create_project(client, "100%_sure")
    names = [p["name"] for p in client.get("/api/v1/projects?name=gard").json["items"]]
    assert names == ["Garden"]
    # LIKE wildcards in the filter are literal characters.
    names = [p["name"] for p in client.get("/api/v1/projects?name=%25_").json["items"]]
    assert names == ["100%_sure"]


# "Café" twice: with é as one code point (composed, NFC) and as e + U+0301 (decomposed).
COMPOSED, DECOMPOSED = "Caf\u00e9", "Cafe\u0301"


def test_names_are_stored_composed(client: AuthenticatedClient) -> None:
    """The two spellings of one text are one name: stored composed, a duplicate of each other,
    and found by a search in either spelling. Before, both were stored as sent: two projects
    that list as the same name, each found only in its own spelling."""
    created = create_project(client, DECOMPOSED)
    assert created["name"] == COMPOSED
    again = client.post("/api/v1/projects", json={"name": COMPOSED})
    assert again.status_code == 409, again.json
    for spelling in ("caf\u00e9", "cafe\u0301"):
        found = client.get("/api/v1/projects", query_string={"name": spelling}).json
        assert [p["name"] for p in found["items"]] == [COMPOSED], spelling
    task = client.post(
        "/api/v1/tasks", json={"project_id": created["id"], "title": f"  {DECOMPOSED} "}
    )
    assert task.status_code == 201, task.json
    assert task.json["title"] == COMPOSED


def test_a_name_that_composes_longer_is_stored_whole(client: AuthenticatedClient) -> None:
    """U+0958 composes to two code points: 200 of them, within the document's maxLength as
    sent, are 400 stored. The document accepts the name, so the server must too (a fuzzer's
    valid request refused is a failed check), and the column holds it whole."""
    response = client.post("/api/v1/projects", json={"name": "\u0958" * 200})
    assert response.status_code == 201, response.json
    assert response.json["name"] == "\u0915\u093c" * 200
    task = client.post(
        "/api/v1/tasks", json={"project_id": response.json["id"], "title": "\ufb2c" * 200}
    )
    assert task.status_code == 201, task.json  # U+FB2C: three code points composed
    assert len(task.json["title"]) == 600
    assert client.get(response.headers["Location"]).json["name"] == response.json["name"]


def test_task_count(client: AuthenticatedClient) -> None:
    project = create_project(client)
    for title in ("a", "b"):
        client.post("/api/v1/tasks", json={"project_id": project["id"], "title": title})
    assert client.get(f"/api/v1/projects/{project['id']}").json["task_count"] == 2
    listed = client.get("/api/v1/projects").json["items"][0]
    assert listed["task_count"] == 2


def test_patch_put_delete(client: AuthenticatedClient) -> None:
    project = create_project(client, description="old")
    url = f"/api/v1/projects/{project['id']}"
    patched = client.patch(url, json={"description": "new"})
    assert patched.status_code == 200
    assert patched.json == {**patched.json, "name": "Alpha", "description": "new", "version": 2}
    put = client.put(url, json={"name": "Beta"})
    assert put.status_code == 200
    assert (put.json["name"], put.json["description"], put.json["version"]) == ("Beta", "", 3)
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_delete_cascades_to_tasks(client: AuthenticatedClient) -> None:
    project = create_project(client)
    task = client.post("/api/v1/tasks", json={"project_id": project["id"], "title": "t"}).json
    assert client.delete(f"/api/v1/projects/{project['id']}").status_code == 204
    assert client.get(f"/api/v1/tasks/{task['id']}").status_code == 404


def test_rename_onto_existing_name_is_409(client: AuthenticatedClient) -> None:
    create_project(client, "One")
    two = create_project(client, "Two")
    response = client.patch(f"/api/v1/projects/{two['id']}", json={"name": "One"})
    assert response.status_code == 409
    assert client.get(f"/api/v1/projects/{two['id']}").json["name"] == "Two"


def test_missing_project_is_404_problem(client: AuthenticatedClient) -> None:
    response = client.get("/api/v1/projects/999999")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.json["detail"] == "Project 999999 does not exist."
    for method in ("patch", "put", "delete"):
        assert (
            getattr(client, method)("/api/v1/projects/999999", json={"name": "x"}).status_code
            == 404
        )


def test_read_is_one_statement_with_its_task_count(client: AuthenticatedClient, app: Flask) -> None:
    project = create_project(client)
    for title in ("a", "b", "c"):
        client.post("/api/v1/tasks", json={"project_id": project["id"], "title": title})
    other = create_project(client, "Other")
    client.post("/api/v1/tasks", json={"project_id": other["id"], "title": "elsewhere"})
    # The write above dropped the cache: this read is a miss.
    with recorded_statements(app) as statements:
        body = client.get(f"/api/v1/projects/{project['id']}").json
    assert body["task_count"] == 3
    reads = [s for s in statements if "FROM projects" in s or "FROM tasks" in s]
    assert len(reads) == 1, reads
    assert "FROM tasks" in reads[0]
    assert "owner_id" in reads[0]  # row isolation's condition is in it
