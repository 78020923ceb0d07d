"""Two principals, every endpoint and method: nothing of one reaches the other.

The endpoints come from the app's url_map, so a new endpoint is attacked too (one that takes a
body fails here until it has an entry in BODIES). Another owner's resource answers 404, never
403, so ids cannot be probed; lists, filters, counts and the cache show nothing foreign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask

from server.api.contract import contract_of

from support.auth import AuthenticatedClient, anonymous, bearer, make_principal, make_token

MARK = "alice-secret-7f3a"  # in every name Alice gives: must never appear in Bob's answers


@dataclass
class Owner:
    name: str
    principal_id: int
    token: str
    project: int = 0
    task: int = 0
    tag: int = 0
    token_id: int = 0


class As:
    """A client acting with one token."""

    def __init__(self, app: Flask, token: str) -> None:
        self.client: AuthenticatedClient = anonymous(app)
        self.headers = bearer(token)

    def open(self, url: str, method: str = "GET", **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.open(url, method=method, headers=self.headers, **kwargs)

    def get(self, url: str):  # type: ignore[no-untyped-def]
        return self.open(url)


def populate(app: Flask, name: str, mark: str) -> Owner:
    principal = make_principal(name)
    owner = Owner(name, principal.id, make_token(principal))
    me = As(app, owner.token)
    project = me.open("/api/v1/projects", "POST", json={"name": f"Shared {mark}"})
    assert project.status_code == 201, project.json
    owner.project = project.json["id"]
    tag = me.open("/api/v1/tags", "POST", json={"name": f"tag-{mark}"})
    assert tag.status_code == 201, tag.json
    owner.tag = tag.json["id"]
    task = me.open(
        "/api/v1/tasks",
        "POST",
        json={"project_id": owner.project, "title": f"Task {mark}", "tags": ["common", mark]},
    )
    assert task.status_code == 201, task.json
    owner.task = task.json["id"]
    token = me.open("/api/v1/tokens", "POST", json={"scopes": ["read"], "name": mark})
    owner.token_id = token.json["id"]
    return owner


@pytest.fixture
def alice(app: Flask) -> Owner:
    return populate(app, "alice", MARK)


@pytest.fixture
def bob(app: Flask, alice: Owner) -> Owner:
    # The same project name and a tag "common" of his own: names are unique per owner only,
    # so neither answers 409 (which would tell Bob that Alice has them).
    return populate(app, "bob", "bobs")


def bodies(alice: Owner, bob: Owner) -> dict[tuple[str, str], dict[str, object]]:
    """A valid body for every (method, endpoint) that takes one and an id in its path."""
    task = {"project_id": bob.project, "title": "pwned"}
    return {
        ("PUT", "api.projects.replace_project"): {"name": "pwned"},
        ("PATCH", "api.projects.update_project"): {"name": "pwned"},
        ("PUT", "api.tasks.replace_task"): task,
        ("PATCH", "api.tasks.update_task"): {"title": "pwned"},
        ("PATCH", "api.admin.update_principal"): {"disabled": True},
        ("POST", "api.admin.create_token"): {"scopes": ["read"]},
    }


def id_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, endpoint, rule) of every API route with an id in its path."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or not rule.arguments:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, rule.endpoint, rule.rule))
    return found


def fill(rule: str, owner: Owner) -> str:
    ids = {
        "project_id": owner.project,
        "task_id": owner.task,
        "tag_id": owner.tag,
        "token_id": owner.token_id,
        "principal_id": owner.principal_id,
    }
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[m.group(1)]), rule)


def snapshot(app: Flask, owner: Owner) -> list[object]:
    me = As(app, owner.token)
    urls = [
        f"/api/v1/projects/{owner.project}",
        f"/api/v1/tasks/{owner.task}",
        f"/api/v1/tags/{owner.tag}",
        "/api/v1/tokens",
        "/api/v1/projects",
        "/api/v1/tasks",
        "/api/v1/tags",
    ]
    return [me.get(url).json for url in urls]


def test_no_endpoint_or_method_reaches_another_owners_resource(
    app: Flask, alice: Owner, bob: Owner
) -> None:
    before = snapshot(app, alice)
    mallory = As(app, bob.token)
    body_for = bodies(alice, bob)
    routes = id_routes(app)
    assert len(routes) >= 15
    for method, endpoint, rule in routes:
        spec = contract_of(app.view_functions[endpoint])
        needs_body = spec is not None and spec.body is not None
        if needs_body:
            assert (method, endpoint) in body_for, f"add a body for {method} {endpoint}"
        body = body_for.get((method, endpoint)) if needs_body else None
        url = fill(rule, alice)
        response = mallory.open(url, method, json=body)
        expected = 403 if endpoint.startswith("api.admin.") else 404
        assert response.status_code == expected, (method, url, response.json)
        assert MARK not in response.get_data(as_text=True)
        # The same request on Bob's own resource is answered: 404 meant "not yours", not
        # "broken request".
        if expected == 404 and method == "GET":
            assert mallory.open(fill(rule, bob), method).status_code == 200, (method, rule)
    assert snapshot(app, alice) == before


def test_bodies_cannot_point_at_another_owners_rows(app: Flask, alice: Owner, bob: Owner) -> None:
    mallory = As(app, bob.token)
    create = mallory.open("/api/v1/tasks", "POST", json={"project_id": alice.project, "title": "x"})
    assert create.status_code == 404
    move = mallory.open(f"/api/v1/tasks/{bob.task}", "PATCH", json={"project_id": alice.project})
    assert move.status_code == 404
    assert MARK not in create.get_data(as_text=True) + move.get_data(as_text=True)


def test_lists_filters_and_counts_show_only_own_rows(app: Flask, alice: Owner, bob: Owner) -> None:
    mallory = As(app, bob.token)
    lists = [
        r.rule
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/") and not r.arguments and "GET" in (r.methods or set())
    ]
    assert len(lists) >= 4
    for url in lists:
        response = mallory.get(url)
        if url.startswith("/api/v1/admin"):
            assert response.status_code == 403
            continue
        assert response.status_code == 200, url
        assert MARK not in response.get_data(as_text=True), url
    projects = mallory.get("/api/v1/projects").json
    assert projects["total"] == 1
    assert projects["items"][0]["task_count"] == 1
    # Filters naming Alice's rows find nothing, and say so the same way as for missing rows.
    for url in (
        f"/api/v1/tasks?project_id={alice.project}",
        f"/api/v1/tasks?tag={MARK}",
        f"/api/v1/projects?name={MARK}",
    ):
        page = mallory.get(url).json
        assert page["total"] == 0, url
        assert page["items"] == []
    # "common" exists for both: Bob's filter counts his task only.
    assert mallory.get("/api/v1/tasks?tag=common").json["total"] == 1
    assert {t["name"] for t in mallory.get("/api/v1/tags").json["items"]} == {
        "common",
        "bobs",
        "tag-bobs",
    }


def test_cached_reads_are_not_shared_between_principals(
    app: Flask, alice: Owner, bob: Owner
) -> None:
    mine, theirs = As(app, alice.token), As(app, bob.token)
    for url in (
        "/api/v1/projects",
        "/api/v1/tasks?tag=common",
        f"/api/v1/projects/{alice.project}",
    ):
        first = mine.get(url)
        assert mine.get(url).headers["X-Cache"] == "hit"
        other = theirs.get(url)
        assert other.headers.get("X-Cache") != "hit", url
        assert MARK not in other.get_data(as_text=True)
        assert first.get_data() != other.get_data()


def test_admin_sees_every_owner(app: Flask, alice: Owner, bob: Owner) -> None:
    admin = As(app, make_token(make_principal("root", admin=True)))
    names = {p["name"] for p in admin.get("/api/v1/projects?limit=100").json["items"]}
    assert {f"Shared {MARK}", "Shared bobs"} <= names
    assert admin.get(f"/api/v1/tasks/{alice.task}").status_code == 200
    listed = admin.get(f"/api/v1/admin/principals/{alice.principal_id}/tokens").json["items"]
    assert MARK in {t["name"] for t in listed}


def test_without_the_admin_scope_an_admin_sees_only_its_own(app: Flask, alice: Owner) -> None:
    admin = As(app, make_token(make_principal("careful", admin=True), "read", "write"))
    assert admin.get(f"/api/v1/projects/{alice.project}").status_code == 404


def test_admin_tag_filter_pages_every_owners_tag_of_that_name(
    app: Flask, alice: Owner, bob: Owner
) -> None:
    """Both owners have a tag "common": an admin's filter merges their tasks in id order."""
    admin = As(app, make_token(make_principal("root", admin=True)))
    first = admin.get("/api/v1/tasks?tag=common&limit=1").json
    assert first["total"] == 2
    assert [t["id"] for t in first["items"]] == [alice.task]
    second = admin.get(first["next"]).json
    assert [t["id"] for t in second["items"]] == [bob.task]
    assert second["total"] == 2
    assert second["next"] is None
