"""/api/v1/projects"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from server.api.request_parsing import expected_version, parse_body, parse_query
from server.api.responses import json_response, no_content, page_response
from server.cache import cached_read
from server.schemas.projects import (
    ProjectCreate,
    ProjectOut,
    ProjectQuery,
    ProjectReplace,
    ProjectUpdate,
)
from server.services import projects

bp = Blueprint("projects", __name__, url_prefix="/projects")
ID = "<int(min=1, max=2147483647):project_id>"


def _out(project: projects.Project, count: int | None = None) -> ProjectOut:
    out = ProjectOut.model_validate(project)
    out.task_count = projects.task_count(project) if count is None else count
    return out


@bp.get("")
@cached_read
def list_projects() -> Response:
    """List projects, with their task counts."""
    query = parse_query(ProjectQuery)
    rows, total = projects.list_projects(limit=query.limit, offset=query.offset, name=query.name)
    return page_response([_out(p, n) for p, n in rows], total, query.limit, query.offset)


@bp.post("")
def create_project() -> Response:
    """Create a project."""
    body = parse_body(ProjectCreate)
    project = projects.create_project(body.name, body.description)
    location = url_for(".get_project", project_id=project.id)
    return json_response(_out(project, 0), 201, version=project.version, location=location)


@bp.get(f"/{ID}")
@cached_read
def get_project(project_id: int) -> Response:
    """Read one project."""
    project = projects.get_project(project_id)
    return json_response(_out(project), version=project.version)


@bp.put(f"/{ID}")
def replace_project(project_id: int) -> Response:
    """Replace a project's fields."""
    body = parse_body(ProjectReplace)
    project = projects.update_project(project_id, body.model_dump(), expected_version())
    return json_response(_out(project), version=project.version)


@bp.patch(f"/{ID}")
def update_project(project_id: int) -> Response:
    """Change some of a project's fields."""
    body = parse_body(ProjectUpdate)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    project = projects.update_project(project_id, changes, expected_version())
    return json_response(_out(project), version=project.version)


@bp.delete(f"/{ID}")
def delete_project(project_id: int) -> Response:
    """Delete a project and its tasks."""
    projects.delete_project(project_id, expected_version())
    return no_content()
