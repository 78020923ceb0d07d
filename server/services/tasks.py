"""Tasks: list with filters, read, create, change, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from server.infra.database import db
from server.models import Project, Tag, Task, TaskStatus
from server.models.base import utcnow
from server.services.common import check_version, get_or_raise
from server.services.errors import InvalidReference
from server.services.tags import resolve_tags


def list_tasks(
    *,
    limit: int,
    offset: int,
    project_id: int | None = None,
    status: TaskStatus | None = None,
    tag: str | None = None,
) -> tuple[Sequence[Task], int]:
    where = []
    if project_id is not None:
        where.append(Task.project_id == project_id)
    if status is not None:
        where.append(Task.status == status)
    if tag is not None:
        where.append(Task.tags.any(Tag.name == tag))
    tasks = db.session.scalars(
        select(Task)
        .where(*where)
        .options(selectinload(Task.tags))
        .order_by(Task.id)
        .limit(limit)
        .offset(offset)
    ).all()
    total = db.session.scalar(select(func.count()).select_from(Task).where(*where)) or 0
    return tasks, total


def get_task(task_id: int) -> Task:
    return get_or_raise(Task, task_id)


def create_task(data: dict[str, Any]) -> Task:
    project = _require_project(data["project_id"])
    tags = resolve_tags(data.pop("tags", []), project.owner_id)
    task = Task(**data, tags=tags)
    db.session.add(task)
    db.session.commit()
    return task


def update_task(task_id: int, changes: dict[str, Any], expected_version: int | None) -> Task:
    task = get_task(task_id)
    check_version(task.version, expected_version)
    owner_id = task.project.owner_id
    if "project_id" in changes:
        owner_id = _require_project(changes["project_id"]).owner_id
        if owner_id != task.project.owner_id and "tags" not in changes:
            # An admin moved it to another owner's project: its tags follow, as that owner's.
            changes["tags"] = [tag.name for tag in task.tags]
    if "tags" in changes:
        task.tags = resolve_tags(changes.pop("tags") or [], owner_id)
        # The tags live in another table: touch the row so its version and updated_at move too.
        task.updated_at = utcnow()
    for field, value in changes.items():
        setattr(task, field, value)
    db.session.commit()
    return task


def delete_task(task_id: int, expected_version: int | None) -> None:
    task = get_task(task_id)
    check_version(task.version, expected_version)
    db.session.delete(task)
    db.session.commit()


def _require_project(project_id: int) -> Project:
    # Another owner's project is invisible here (server/auth/isolation.py): "no such project".
    project = db.session.get(Project, project_id)
    if project is None:
        raise InvalidReference("project_id", "Project", project_id)
    return project
