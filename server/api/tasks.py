"""/api/v1/tasks"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from server.api.contract import contract
from server.api.request_parsing import expected_version
from server.api.responses import json_response, no_content, page_response
from server.cache import cached_read
from server.schemas.common import Page
from server.schemas.tasks import TaskCreate, TaskOut, TaskQuery, TaskReplace, TaskUpdate
from server.services import tasks

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
ID = "<id:task_id>"


@bp.get("")
@cached_read
@contract(query=TaskQuery, response=Page[TaskOut])
def list_tasks(query: TaskQuery) -> Response:
    """List tasks, filtered by project, status and tag."""
    rows, total = tasks.list_tasks(
        limit=query.limit,
        offset=query.offset,
        project_id=query.project_id,
        status=query.status,
        tag=query.tag,
    )
    return page_response(
        [TaskOut.model_validate(t) for t in rows], total, query.limit, query.offset
    )


@bp.post("")
@contract(body=TaskCreate, response=TaskOut, status=201, conflicts=True, etag=True, created=True)
def create_task(body: TaskCreate) -> Response:
    """Create a task in a project, with tags."""
    task = tasks.create_task(body.model_dump())
    location = url_for(".get_task", task_id=task.id)
    return json_response(TaskOut.model_validate(task), 201, version=task.version, location=location)


@bp.get(f"/{ID}")
@cached_read
@contract(response=TaskOut, etag=True)
def get_task(task_id: int) -> Response:
    """Read one task."""
    task = tasks.get_task(task_id)
    return json_response(TaskOut.model_validate(task), version=task.version)


@bp.put(f"/{ID}")
@contract(body=TaskReplace, response=TaskOut, conflicts=True, conditional=True, etag=True)
def replace_task(task_id: int, body: TaskReplace) -> Response:
    """Replace a task's fields."""
    task = tasks.update_task(task_id, body.model_dump(), expected_version())
    return json_response(TaskOut.model_validate(task), version=task.version)


@bp.patch(f"/{ID}")
@contract(body=TaskUpdate, response=TaskOut, conflicts=True, conditional=True, etag=True)
def update_task(task_id: int, body: TaskUpdate) -> Response:
    """Change some of a task's fields."""
    # due_at may be set to null on purpose; other fields given as null mean "unchanged".
    changes = {
        key: value
        for key, value in body.model_dump(exclude_unset=True).items()
        if value is not None or key == "due_at"
    }
    task = tasks.update_task(task_id, changes, expected_version())
    return json_response(TaskOut.model_validate(task), version=task.version)


@bp.delete(f"/{ID}")
@contract(conflicts=True, conditional=True, status=204)
def delete_task(task_id: int) -> Response:
    """Delete a task."""
    tasks.delete_task(task_id, expected_version())
    return no_content()
