"""/api/v1/projects"""

from __future__ import annotations

from flask import Blueprint

from server.api import caching
from server.api.caching import cached_read
from server.api.contract import contract
from server.api.paging import page
from server.api.request_parsing import expected_version
from server.models import Project
from server.schemas.common import Page
from server.schemas.projects import (
    ProjectCreate,
    ProjectOut,
    ProjectQuery,
    ProjectReplace,
    ProjectUpdate,
)
from server.services import projects

bp = Blueprint("projects", __name__, url_prefix="/projects")


def _out(project: Project, count: int | None = None) -> ProjectOut:
    out = ProjectOut.model_validate(project)
    out.task_count = projects.task_count(project) if count is None else count
    return out


@bp.get("")
@cached_read(caching.project_list)
@contract(query=ProjectQuery, response=Page[ProjectOut])
def list_projects(query: ProjectQuery) -> Page[ProjectOut]:
    """List projects, with their task counts."""
    listing = projects.list_projects(
        limit=query.limit, offset=query.offset, after=query.after, name=query.name
    )
    counts = projects.task_counts([p.id for p in listing.items])
    items = [_out(p, counts[p.id]) for p in listing.items]
    last = listing.items[-1].id if listing.items else None
    return page(items, listing, query.limit, query.offset, last)


@bp.post("")
@contract(
    body=ProjectCreate,
    response=ProjectOut,
    status=201,
    conflicts=True,
    etag=True,
    created=".get_project",
)
def create_project(body: ProjectCreate) -> tuple[ProjectOut, Project]:
    """Create a project."""
    project = projects.create_project(body.name, body.description)
    return _out(project, 0), project


@bp.get("/<id:project_id>")
@cached_read(caching.one_project)
@contract(response=ProjectOut, etag=True)
def get_project(project_id: int) -> tuple[ProjectOut, Project]:
    """Read one project."""
    project, count = projects.get_project_with_count(project_id)
    return _out(project, count), project


@bp.put("/<id:project_id>")
@contract(body=ProjectReplace, response=ProjectOut, conflicts=True, conditional=True, etag=True)
def replace_project(project_id: int, body: ProjectReplace) -> tuple[ProjectOut, Project]:
    """Replace a project's fields."""
    project = projects.update_project(project_id, body.changes(), expected_version())
    return _out(project), project


@bp.patch("/<id:project_id>")
@contract(body=ProjectUpdate, response=ProjectOut, conflicts=True, conditional=True, etag=True)
def update_project(project_id: int, body: ProjectUpdate) -> tuple[ProjectOut, Project]:
    """Change some of a project's fields."""
    project = projects.update_project(project_id, body.changes(), expected_version())
    return _out(project), project


@bp.delete("/<id:project_id>")
@contract(conflicts=True, conditional=True, status=204)
def delete_project(project_id: int) -> None:
    """Delete a project and its tasks."""
    projects.delete_project(project_id, expected_version())
