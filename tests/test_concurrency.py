"""Optimistic concurrency: ETag on reads, If-Match on writes, no silent lost update."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from server.infra.database import db
from server.services import projects as projects_service
from server.services import tasks as tasks_service

from support.api import create_project, create_task
from support.auth import AuthenticatedClient, client_of


@pytest.fixture
def task_url(client: AuthenticatedClient) -> str:
    task = create_task(client, create_project(client, "p")["id"], "t")
    return f"/api/v1/tasks/{task['id']}"


def test_matching_if_match_succeeds_and_moves_the_etag(
    client: AuthenticatedClient, task_url: str
) -> None:
    etag = client.get(task_url).headers["ETag"]
    changed = client.patch(task_url, json={"title": "new"}, headers={"If-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_second_writer_with_stale_etag_gets_412(client: AuthenticatedClient, task_url: str) -> None:
    etag = client.get(task_url).headers["ETag"]
    assert (
        client.patch(task_url, json={"title": "first"}, headers={"If-Match": etag}).status_code
        == 200
    )
    late = client.patch(task_url, json={"title": "second"}, headers={"If-Match": etag})
    assert late.status_code == 412
    assert late.mimetype == "application/problem+json"
    assert late.json["current_version"] == 2
    assert client.get(task_url).json["title"] == "first"  # the first update was not lost
    assert client.delete(task_url, headers={"If-Match": etag}).status_code == 412


@pytest.mark.parametrize(
    "header",
    # An entity tag is compared as a whole string (RFC 9110 section 8.8.3.2): "v01" is not
    # "v1", though both read as version 1.
    # Empty elements and an empty list are RFC 9110's list syntax (section 5.6.1): no tag.
    [
        *('"v999"', 'W/"v1"', '"1"', '"v7", "v999"', 'W/"v1", "v2"', '"v01"', '"v7", "v001"'),
        *('""', "", ",", ", ,"),
    ],
)
def test_non_matching_if_match_is_412(
    client: AuthenticatedClient, task_url: str, header: str
) -> None:
    assert (
        client.put(
            task_url, json={"project_id": 1, "title": "x"}, headers={"If-Match": header}
        ).status_code
        == 412
    )


@pytest.mark.parametrize(
    "header", ["garbage", "v1", "{}", '"v1', '"v1" "v2"', '*, "v1"', "*,", 'w/"v1"', '"v\x7f1"']
)
def test_an_if_match_that_is_no_list_of_entity_tags_is_400(
    client: AuthenticatedClient, task_url: str, header: str
) -> None:
    """Not RFC 9110's If-Match syntax (the document's pattern), so no condition at all: 400,
    and nothing changes. (412 says a valid condition failed.)"""
    refused = client.put(
        task_url, json={"project_id": 1, "title": "x"}, headers={"If-Match": header}
    )
    assert refused.status_code == 400, refused.json
    assert refused.json["type"].endswith("/bad-request")
    assert client.get(task_url).json["version"] == 1


# Lists of about the most a request's headers may hold, valid, then spoilt by a last character.
HOSTILE_LISTS = [element * 2000 for element in (",  ", ' W/"" ,  ', '"a" ,')]
LINEAR_CHECK = """
import sys
from server.api.etags import is_if_match
lists = sys.argv[1:]
sys.exit(not all(is_if_match(v) and not is_if_match(v + "x") for v in lists))
"""


def test_the_if_match_syntax_check_is_linear() -> None:
    """A hostile If-Match cannot make the syntax check backtrack: the pattern as RFC 9110's
    rule reads took minutes for 20 commas and a stray character (each run of spaces could go
    to either side of a comma). In a process of its own, which is killed if it does not end
    (the regex holds the GIL: a thread could not be given up on); at linear cost the checks
    take milliseconds, exponential they would not end at all."""
    checked = subprocess.run(
        [sys.executable, "-c", LINEAR_CHECK, *HOSTILE_LISTS], timeout=120, check=False
    )
    assert checked.returncode == 0


@pytest.mark.parametrize("header", ['"v7", "v1"', '"v1","v9"', '"x", "v1"', 'W/"v1", "v1"'])
def test_a_list_matches_when_any_of_its_tags_is_current(
    client: AuthenticatedClient, task_url: str, header: str
) -> None:
    """RFC 9110 §13.1.1: If-Match with several entity tags holds if any of them is current
    (strong comparison: a weak tag never matches)."""
    assert client.get(task_url).headers["ETag"] == '"v1"'
    changed = client.patch(task_url, json={"title": "listed"}, headers={"If-Match": header})
    assert changed.status_code == 200, changed.json
    assert changed.headers["ETag"] == '"v2"'
    late = client.patch(task_url, json={"title": "again"}, headers={"If-Match": header})
    assert late.status_code == 412  # now at v2, which the list does not name
    assert late.json["current_version"] == 2


def test_star_matches_any_version(client: AuthenticatedClient, task_url: str) -> None:
    assert client.delete(task_url, headers={"If-Match": "*"}).status_code == 204


@pytest.fixture
def strict_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(require_if_match=True)


def test_if_match_required_by_setting(strict_app: Flask) -> None:
    client = client_of(strict_app)
    created = client.post("/api/v1/tags", json={"name": "t"})
    assert created.status_code == 201  # creating needs no precondition
    missing = client.delete(created.headers["Location"])
    assert missing.status_code == 428
    assert missing.json["type"].endswith("/precondition-required")
    ok = client.delete(created.headers["Location"], headers={"If-Match": created.headers["ETag"]})
    assert ok.status_code == 204


@pytest.mark.parametrize(
    ("resource", "service", "body"),
    [
        ("projects", projects_service, {"name": "renamed"}),
        ("tasks", tasks_service, {"title": "renamed"}),
    ],
)
def test_a_row_deleted_after_a_write_commits_is_409_not_500(
    client: AuthenticatedClient,
    monkeypatch: pytest.MonkeyPatch,
    resource: str,
    service: ModuleType,
    body: dict[str, str],
) -> None:
    """Another request's DELETE lands between this write's commit and the answer, which reads
    the row back (a commit expires it): seen as a 500 (ObjectDeletedError) from concurrent
    PATCH/PUT and DELETE on one project against the real server."""
    project = create_project(client, "p")
    url = f"/api/v1/projects/{project['id']}"
    if resource == "tasks":
        url = f"/api/v1/tasks/{create_task(client, project['id'], 't')['id']}"
    table = resource
    original = service.update_project if resource == "projects" else service.update_task

    def update_then_lose_the_row(ident: int, *args: Any) -> Any:
        row = original(ident, *args)
        db.session.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": ident})
        db.session.commit()
        return row

    name = "update_project" if resource == "projects" else "update_task"
    monkeypatch.setattr(service, name, update_then_lose_the_row)
    response = client.patch(url, json=body)
    assert response.status_code == 409, response.json
    assert response.mimetype == "application/problem+json"
    assert client.get(url).status_code == 404
