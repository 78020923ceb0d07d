"""Row isolation: every ORM query sees only the acting principal's projects, tasks and tags.

One rule in one place instead of a filter in each service: SQLAlchemy's documented pattern
(``do_orm_execute`` + ``with_loader_criteria``) adds the owner condition to every SELECT that
touches these models: lists, lookups by id, counts, subqueries and filters such as
``?tag=`` alike. A new query or endpoint is isolated without anyone remembering to.
https://docs.sqlalchemy.org/en/20/orm/session_events.html#adding-global-where-on-criteria

- Admins acting with the admin scope see every row.
- Nobody acting (no request principal, no CLI actor): no owned row is visible.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, false, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from server.auth.actor import current_actor
from server.models import Project, Tag, Task

_installed = False


def _criteria(owner_id: int | None) -> list[Any]:
    if owner_id is None:
        return [
            with_loader_criteria(model, false(), include_aliases=True)
            for model in (Project, Task, Tag)
        ]
    owned_projects = select(Project.id).where(Project.owner_id == owner_id)
    return [
        with_loader_criteria(Project, Project.owner_id == owner_id, include_aliases=True),
        with_loader_criteria(Task, Task.project_id.in_(owned_projects), include_aliases=True),
        with_loader_criteria(Tag, Tag.owner_id == owner_id, include_aliases=True),
    ]


def _isolate(state: ORMExecuteState) -> None:
    if not state.is_select or state.is_column_load or state.is_relationship_load:
        return
    actor = current_actor()
    if actor is not None and actor.sees_everything:
        return
    owner_id = None if actor is None else actor.principal_id
    state.statement = state.statement.options(*_criteria(owner_id))


def install() -> None:
    """Listen on every Session once per process (idempotent)."""
    global _installed
    if not _installed:
        event.listen(Session, "do_orm_execute", _isolate)
        _installed = True
