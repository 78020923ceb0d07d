"""Tasks: list with filters, read, create, change, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Subquery, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from server.infra.database import db
from server.models import Project, Tag, Task, TaskStatus, task_tags
from server.models.base import utcnow
from server.services.common import Listing, check_version, get_or_raise, list_page
from server.services.errors import InvalidReference
from server.services.tags import resolve_tags


def list_tasks(
    *,
    limit: int,
    offset: int = 0,
    after: int | None = None,
    project_id: int | None = None,
    status: TaskStatus | None = None,
    tag: str | None = None,
) -> Listing[Task]:
    """A page of tasks in id order; the filters ride on (project_id, id), (status, id) and
    task_tags' (tag_id, task_id)."""
    query = select(Task).options(selectinload(Task.tags))
    key: ColumnElement[int] | InstrumentedAttribute[int] = Task.id
    key_copies: tuple[InstrumentedAttribute[int], ...] = ()
    ordered_count = False
    if project_id is not None:
        query = query.where(Task.project_id == project_id)
    if status is not None:
        query = query.where(Task.status == status)
    if tag is not None:
        tagged = _tagged_task_ids(tag)
        if tagged is None:
            return Listing([], more=False, total=0, total_capped=False)
        query = query.join(tagged, tagged.c.task_id == Task.id)
        # The key is task_tags' copy of the id, so the order and `after` walk its index.
        key, key_copies, ordered_count = tagged.c.task_id, (Task.id,), True
    return list_page(
        query,
        key,
        limit=limit,
        offset=offset,
        after=after,
        key_copies=key_copies,
        count_in_key_order=ordered_count,
    )


def _tagged_task_ids(name: str) -> Subquery | None:
    """The ids of the tasks carrying a tag called ``name`` (a subquery); None if no such tag.

    The tag's ids are looked up first (row isolation applies: an owner's own tag, or, for an
    admin, every owner's tag of that name) and then written into the query as values: only
    then can PostgreSQL walk task_tags' (tag_id, task_id) index in task id order, one range
    per tag merged, and stop after the page. As a subquery, the planner cannot tell a tag of
    ten tasks from one of a million, and counted or ordered by scanning tasks.
    """
    tag_ids = db.session.scalars(select(Tag.id).where(Tag.name == name).order_by(Tag.id)).all()
    if not tag_ids:
        return None
    ranges = [select(task_tags.c.task_id).where(task_tags.c.tag_id == i) for i in tag_ids]
    if len(ranges) == 1:
        return ranges[0].subquery("tagged")
    return union_all(*ranges).subquery("tagged")


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
