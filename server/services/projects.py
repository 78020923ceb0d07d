"""Projects: list, read, create, change, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from server.auth.actor import require_actor
from server.infra.database import db
from server.models import Project, Task
from server.services.common import Listing, check_version, commit_unique, get_or_raise, list_page
from server.services.errors import NotFound


def list_projects(
    *, limit: int, offset: int = 0, after: int | None = None, name: str | None = None
) -> Listing[Project]:
    """A page of projects in id order."""
    query = select(Project)
    if name:
        query = query.where(Project.name.icontains(name, autoescape=True))
    return list_page(query, Project.id, limit=limit, offset=offset, after=after)


def task_counts(project_ids: Sequence[int]) -> dict[int, int]:
    """Tasks per project, for these projects only: an index scan each, whatever the table."""
    query = (
        select(Task.project_id, func.count())
        .where(Task.project_id.in_(project_ids))
        .group_by(Task.project_id)
    )
    counts = dict.fromkeys(project_ids, 0)
    counts.update((project_id, n) for project_id, n in db.session.execute(query))
    return counts


def task_count(project: Project) -> int:
    return task_counts([project.id])[project.id]


def get_project(project_id: int) -> Project:
    return get_or_raise(Project, project_id)


def get_project_with_count(project_id: int) -> tuple[Project, int]:
    """A project and its task count in one statement: the count is a correlated subquery,
    and row isolation adds its owner conditions to the project and to the counted tasks."""
    count = (
        select(func.count(Task.id))
        .where(Task.project_id == Project.id)
        .correlate(Project)
        .scalar_subquery()
    )
    row = db.session.execute(select(Project, count).where(Project.id == project_id)).first()
    if row is None:
        raise NotFound("Project", project_id)
    return row[0], row[1]


def create_project(name: str, description: str = "") -> Project:
    project = Project(name=name, description=description, owner_id=require_actor().principal_id)
    db.session.add(project)
    commit_unique("Project", name)
    return project


def update_project(
    project_id: int, changes: dict[str, Any], expected_version: frozenset[int] | None
) -> Project:
    project = get_project(project_id)
    check_version(project.version, expected_version)
    for field, value in changes.items():
        setattr(project, field, value)
    commit_unique("Project", changes.get("name", project.name))
    return project


def delete_project(project_id: int, expected_version: frozenset[int] | None) -> None:
    project = get_project(project_id)
    check_version(project.version, expected_version)
    db.session.delete(project)
    db.session.commit()
