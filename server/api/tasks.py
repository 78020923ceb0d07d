"""/api/v1/tasks"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from server.api import caching
from server.api.caching import cached_read
from server.api.contract import contract
from server.api.paging import page
from server.api.request_parsing import expected_version
from server.models import Task
from server.schemas.common import Page
from server.schemas.tasks import TaskCreate, TaskOut, TaskQuery, TaskReplace, TaskUpdate
from server.services import tasks

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.get("")
@cached_read(caching.task_list)
@contract(query=TaskQuery, response=Page[TaskOut])
def list_tasks(query: TaskQuery) -> Page[TaskOut]:
    """List tasks, filtered by project, status and tag."""
    listing = tasks.list_tasks(
        limit=query.limit,
        offset=query.offset,
        after=query.after,
        project_id=query.project_id,
        status=query.status,
        tag=query.tag,
    )
    items = [TaskOut.model_validate(t) for t in listing.items]
    last = listing.items[-1].id if listing.items else None
    return page(items, listing, query.limit, query.offset, last)


@bp.post("")
@contract(
    body=TaskCreate,
    response=TaskOut,
    status=201,
    conflicts=True,
    references=True,
    etag=True,
    created=".get_task",
)
def create_task(body: TaskCreate) -> tuple[TaskOut, Task]:
    """Create a task in a project, with tags."""
    task = tasks.create_task(body.changes())
    return TaskOut.model_validate(task), task


@bp.get("/<id:task_id>")
@cached_read(caching.one_task)
@contract(response=TaskOut, etag=True)
def get_task(task_id: int) -> tuple[TaskOut, Task]:
    """Read one task."""
    task = tasks.get_task(task_id)
    return TaskOut.model_validate(task), task


# What a change to a task promises, whole (PUT) or in part (PATCH).
CHANGE: dict[str, Any] = {
    "response": TaskOut,
    "conflicts": True,
    "conditional": True,
    "references": True,
    "etag": True,
}


@bp.put("/<id:task_id>")
@contract(body=TaskReplace, **CHANGE)
def replace_task(task_id: int, body: TaskReplace) -> tuple[TaskOut, Task]:
    """Replace a task's fields."""
    task = tasks.update_task(task_id, body.changes(), expected_version())
    return TaskOut.model_validate(task), task


@bp.patch("/<id:task_id>")
@contract(body=TaskUpdate, **CHANGE)
def update_task(task_id: int, body: TaskUpdate) -> tuple[TaskOut, Task]:
    """Change some of a task's fields."""
    task = tasks.update_task(task_id, body.changes(), expected_version())
    return TaskOut.model_validate(task), task


@bp.delete("/<id:task_id>")
@contract(conflicts=True, conditional=True, status=204)
def delete_task(task_id: int) -> None:
    """Delete a task."""
    tasks.delete_task(task_id, expected_version())
