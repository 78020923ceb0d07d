"""Projects: list, read, create, change, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from server.auth.actor import require_actor
from server.infra.database import db
from server.models import Project, Task
from server.services.common import check_version, commit_unique, get_or_raise


def list_projects(
    *, limit: int, offset: int, name: str | None = None
) -> tuple[Sequence[tuple[Project, int]], int]:
    """A page of projects with their task counts, and the total matching."""
    where = [Project.name.icontains(name, autoescape=True)] if name else []
    counts = select(Task.project_id, func.count().label("n")).group_by(Task.project_id).subquery()
    rows = db.session.execute(
        select(Project, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.project_id == Project.id)
        .where(*where)
        .order_by(Project.id)
        .limit(limit)
        .offset(offset)
    ).all()
    total = db.session.scalar(select(func.count()).select_from(Project).where(*where)) or 0
    return [(row[0], row[1]) for row in rows], total


def task_count(project: Project) -> int:
    query = select(func.count()).select_from(Task).where(Task.project_id == project.id)
    return db.session.scalar(query) or 0


def get_project(project_id: int) -> Project:
    return get_or_raise(Project, project_id)


def create_project(name: str, description: str = "") -> Project:
    project = Project(name=name, description=description, owner_id=require_actor().principal_id)
    db.session.add(project)
    commit_unique("Project", name)
    return project


def update_project(
    project_id: int, changes: dict[str, Any], expected_version: int | None
) -> Project:
    project = get_project(project_id)
    check_version(project.version, expected_version)
    for field, value in changes.items():
        setattr(project, field, value)
    commit_unique("Project", changes.get("name", project.name))
    return project


def delete_project(project_id: int, expected_version: int | None) -> None:
    project = get_project(project_id)
    check_version(project.version, expected_version)
    db.session.delete(project)
    db.session.commit()
