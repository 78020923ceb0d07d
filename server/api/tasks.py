"""/api/v1/tasks"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from server.api.request_parsing import expected_version, parse_body, parse_query
from server.api.responses import json_response, no_content, page_response
from server.cache import cached_read
from server.schemas.tasks import TaskCreate, TaskOut, TaskQuery, TaskReplace, TaskUpdate
from server.services import tasks

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
ID = "<int(min=1, max=2147483647):task_id>"


@bp.get("")
@cached_read
def list_tasks() -> Response:
    """List tasks, filtered by project, status and tag."""
    query = parse_query(TaskQuery)
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
def create_task() -> Response:
    """Create a task in a project, with tags."""
    body = parse_body(TaskCreate)
    task = tasks.create_task(body.model_dump())
    location = url_for(".get_task", task_id=task.id)
    return json_response(TaskOut.model_validate(task), 201, version=task.version, location=location)


@bp.get(f"/{ID}")
@cached_read
def get_task(task_id: int) -> Response:
    """Read one task."""
    task = tasks.get_task(task_id)
    return json_response(TaskOut.model_validate(task), version=task.version)


@bp.put(f"/{ID}")
def replace_task(task_id: int) -> Response:
    """Replace a task's fields."""
    body = parse_body(TaskReplace)
    task = tasks.update_task(task_id, body.model_dump(), expected_version())
    return json_response(TaskOut.model_validate(task), version=task.version)


@bp.patch(f"/{ID}")
def update_task(task_id: int) -> Response:
    """Change some of a task's fields."""
    body = parse_body(TaskUpdate)
    # due_at may be set to null on purpose; other fields given as null mean "unchanged".
    changes = {
        key: value
        for key, value in body.model_dump(exclude_unset=True).items()
        if value is not None or key == "due_at"
    }
    task = tasks.update_task(task_id, changes, expected_version())
    return json_response(TaskOut.model_validate(task), version=task.version)


@bp.delete(f"/{ID}")
def delete_task(task_id: int) -> Response:
    """Delete a task."""
    tasks.delete_task(task_id, expected_version())
    return no_content()
