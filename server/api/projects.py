"""/api/v1/projects"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from server.api.contract import contract
from server.api.request_parsing import expected_version
from server.api.responses import json_response, no_content, page_response
from server.cache import cached_read
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
ID = "<id:project_id>"


def _out(project: projects.Project, count: int | None = None) -> ProjectOut:
    out = ProjectOut.model_validate(project)
    out.task_count = projects.task_count(project) if count is None else count
    return out


@bp.get("")
@cached_read
@contract(query=ProjectQuery, response=Page[ProjectOut])
def list_projects(query: ProjectQuery) -> Response:
    """List projects, with their task counts."""
    rows, total = projects.list_projects(limit=query.limit, offset=query.offset, name=query.name)
    return page_response([_out(p, n) for p, n in rows], total, query.limit, query.offset)


@bp.post("")
@contract(
    body=ProjectCreate, response=ProjectOut, status=201, conflicts=True, etag=True, created=True
)
def create_project(body: ProjectCreate) -> Response:
    """Create a project."""
    project = projects.create_project(body.name, body.description)
    location = url_for(".get_project", project_id=project.id)
    return json_response(_out(project, 0), 201, version=project.version, location=location)


@bp.get(f"/{ID}")
@cached_read
@contract(response=ProjectOut, etag=True)
def get_project(project_id: int) -> Response:
    """Read one project."""
    project = projects.get_project(project_id)
    return json_response(_out(project), version=project.version)


@bp.put(f"/{ID}")
@contract(body=ProjectReplace, response=ProjectOut, conflicts=True, conditional=True, etag=True)
def replace_project(project_id: int, body: ProjectReplace) -> Response:
    """Replace a project's fields."""
    project = projects.update_project(project_id, body.model_dump(), expected_version())
    return json_response(_out(project), version=project.version)


@bp.patch(f"/{ID}")
@contract(body=ProjectUpdate, response=ProjectOut, conflicts=True, conditional=True, etag=True)
def update_project(project_id: int, body: ProjectUpdate) -> Response:
    """Change some of a project's fields."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    project = projects.update_project(project_id, changes, expected_version())
    return json_response(_out(project), version=project.version)


@bp.delete(f"/{ID}")
@contract(conflicts=True, conditional=True, status=204)
def delete_project(project_id: int) -> Response:
    """Delete a project and its tasks."""
    projects.delete_project(project_id, expected_version())
    return no_content()
