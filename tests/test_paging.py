"""Pages: `after` (keyset) beside a capped offset, `next` links by `after`, totals counted up to
a cap, task counts for the page's projects only."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from server.infra.database import db
from server.schemas.common import COUNT_CAP, MAX_OFFSET

from support.api import create_project, create_task
from support.auth import AuthenticatedClient


def walk(client: AuthenticatedClient, url: str) -> list[dict[str, Any]]:
    """Every item, following `next` links from ``url``."""
    items: list[dict[str, Any]] = []
    pages = 0
    while url:
        page = client.get(url).json
        items += page["items"]
        url = page["next"]
        pages += 1
        assert pages < 100
    return items


def test_next_links_visit_every_project_once_in_order(client: AuthenticatedClient) -> None:
    made = [create_project(client, f"P{i:02}")["id"] for i in range(7)]
    items = walk(client, "/api/v1/projects?limit=3")
    assert [p["id"] for p in items] == made


def test_after_pages_with_filters_and_counts(client: AuthenticatedClient) -> None:
    alpha = create_project(client, "alpha")["id"]
    beta = create_project(client, "beta")["id"]
    mine = [
        create_task(client, alpha, f"a{i}", tags=["x"] if i % 2 else [])["id"] for i in range(5)
    ]
    create_task(client, beta, "b", tags=["x"])
    assert [t["id"] for t in walk(client, f"/api/v1/tasks?limit=2&project_id={alpha}")] == mine
    tagged = walk(client, f"/api/v1/tasks?limit=1&project_id={alpha}&tag=x")
    assert [t["id"] for t in tagged] == mine[1::2]
    page = client.get(f"/api/v1/tasks?limit=2&after={mine[2]}&project_id={alpha}").json
    assert [t["id"] for t in page["items"]] == mine[3:]
    assert page["total"] == 5  # all matching, not only those after
    assert page["next"] is None
    counts = {p["name"]: p["task_count"] for p in walk(client, "/api/v1/projects?limit=1")}
    assert counts == {"alpha": 5, "beta": 1}


def test_tag_filter_pages_count_every_match_and_know_no_such_tag(
    client: AuthenticatedClient,
) -> None:
    project = create_project(client, "tagged")["id"]
    tagged = [create_task(client, project, f"t{i}", tags=["x"])["id"] for i in range(4)]
    create_task(client, project, "plain")
    assert [t["id"] for t in walk(client, "/api/v1/tasks?limit=3&tag=x")] == tagged
    page = client.get(f"/api/v1/tasks?limit=1&tag=x&after={tagged[1]}").json
    assert [t["id"] for t in page["items"]] == [tagged[2]]
    assert page["total"] == 4  # all matching, not only those after, as without a tag
    assert page["next"] is not None
    nothing = client.get("/api/v1/tasks?tag=never-made").json
    assert (nothing["items"], nothing["total"], nothing["next"]) == ([], 0, None)


def test_tags_page_after_a_name(client: AuthenticatedClient) -> None:
    for name in ("delta", "alpha", "charlie", "bravo"):
        assert client.post("/api/v1/tags", json={"name": name}).status_code == 201
    names = [t["name"] for t in walk(client, "/api/v1/tags?limit=3")]
    assert names == ["alpha", "bravo", "charlie", "delta"]
    page = client.get("/api/v1/tags?after=bravo").json
    assert [t["name"] for t in page["items"]] == ["charlie", "delta"]


@pytest.mark.parametrize("resource", ["projects", "tasks", "tags"])
def test_offset_is_capped(client: AuthenticatedClient, resource: str) -> None:
    assert client.get(f"/api/v1/{resource}?offset={MAX_OFFSET}").status_code == 200
    response = client.get(f"/api/v1/{resource}?offset={MAX_OFFSET + 1}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"][0]["field"] == "offset"


@pytest.mark.parametrize("resource", ["projects", "tasks", "tags"])
def test_offset_counts_from_after(client: AuthenticatedClient, resource: str) -> None:
    """Both are valid to the document, which cannot say "not both" (an outside fuzzer's
    positive_data_acceptance found the 422 this used to be): offset skips rows after `after`,
    its cost bounded by the offset's cap as without `after`."""
    project = create_project(client, "first")["id"]
    for i in range(6):
        if resource == "projects":
            create_project(client, f"p{i}")
        elif resource == "tasks":
            create_task(client, project, f"t{i}")
        else:
            assert client.post("/api/v1/tags", json={"name": f"t{i}"}).status_code == 201
    every = [item["id"] for item in walk(client, f"/api/v1/{resource}")]
    first = client.get(f"/api/v1/{resource}?limit=1").json["items"][0]
    after = first["name"] if resource == "tags" else first["id"]
    page = client.get(f"/api/v1/{resource}?after={after}&offset=1&limit=2").json
    assert [item["id"] for item in page["items"]] == every[2:4]
    assert page["offset"] == 1
    assert page["next"] is not None
    assert "offset" not in page["next"]
    assert [item["id"] for item in walk(client, page["next"])] == every[4:]


def test_total_is_counted_up_to_the_cap(client: AuthenticatedClient) -> None:
    first = create_project(client, "first")
    assert client.get("/api/v1/projects").json["total_capped"] is False
    owner = db.session.scalar(
        text("SELECT owner_id FROM projects WHERE id = :id"), {"id": first["id"]}
    )
    db.session.execute(
        text(
            "INSERT INTO projects (name, owner_id)"
            " SELECT 'bulk-' || n, :owner FROM generate_series(1, :n) AS n"
        ),
        {"n": COUNT_CAP, "owner": owner},
    )
    db.session.commit()
    page = client.get("/api/v1/projects?limit=1&name=bulk").json
    assert (page["total"], page["total_capped"]) == (COUNT_CAP, False)
    page = client.get("/api/v1/projects?limit=1").json
    assert (page["total"], page["total_capped"]) == (COUNT_CAP, True)
    assert page["next"] is not None


def test_a_page_builds_no_model_class(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic caches parametrized generics weakly: one written inline was built per request."""
    from pydantic._internal import _generics

    from server.api.paging import page
    from server.services.common import Listing

    built: list[str] = []
    create = _generics.create_generic_submodel

    def counted(name: str, *args: Any) -> Any:
        built.append(name)
        return create(name, *args)

    monkeypatch.setattr(_generics, "create_generic_submodel", counted)
    listing = Listing[Any](items=[], total=0, total_capped=False, more=False)
    for _ in range(2):
        gc.collect()  # what only a weak reference holds goes now
        with app.test_request_context("/api/v1/projects"):
            page([], listing, 20, 0, None)
    assert built == []
