"""/api/v1/tags"""

from __future__ import annotations

from support.auth import AuthenticatedClient


def test_create_list_read_delete(client: AuthenticatedClient) -> None:
    created = client.post("/api/v1/tags", json={"name": " Urgent "})
    assert created.status_code == 201
    assert created.json["name"] == "urgent"
    url = created.headers["Location"]
    assert client.get(url).json["name"] == "urgent"
    assert client.post("/api/v1/tags", json={"name": "URGENT"}).status_code == 409
    assert client.get("/api/v1/tags").json["total"] == 1
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_deleting_a_tag_removes_it_from_tasks(client: AuthenticatedClient) -> None:
    pid = client.post("/api/v1/projects", json={"name": "p"}).json["id"]
    task = client.post("/api/v1/tasks", json={"project_id": pid, "title": "t", "tags": ["a", "b"]})
    tag_id = next(t["id"] for t in client.get("/api/v1/tags").json["items"] if t["name"] == "a")
    assert client.delete(f"/api/v1/tags/{tag_id}").status_code == 204
    assert client.get(task.headers["Location"]).json["tags"] == ["b"]


def test_invalid_names(client: AuthenticatedClient) -> None:
    for name in ("", "two words", "x" * 65, "semi;colon"):
        response = client.post("/api/v1/tags", json={"name": name})
        assert response.status_code == 422, name
        assert response.json["errors"][0]["field"] == "name"
