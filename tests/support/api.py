"""Create resources through the API, for tests whose subject is something else."""

from __future__ import annotations

from typing import Any

from .auth import AuthenticatedClient


def create_project(
    client: AuthenticatedClient, name: str = "Alpha", **extra: object
) -> dict[str, Any]:
    response = client.post("/api/v1/projects", json={"name": name, **extra})
    assert response.status_code == 201, response.json
    return dict(response.json)


def create_task(
    client: AuthenticatedClient, project_id: int, title: str = "t", **extra: object
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/tasks", json={"project_id": project_id, "title": title, **extra}
    )
    assert response.status_code == 201, response.json
    return dict(response.json)
