"""What a cached read depends on, and what a flush changed: the read cache's dependency tags.

A tag names a set of rows some cached reads show. Each read lists its tags
(server/api/caching.py); each committed write bumps the tags of the rows it changed, derived
here from what the session flushed, so only the reads it can change are dropped
(server/infra/cache.py). Row isolation decides what a reader sees: an owner's rows (scope
``o<id>``) or everyone's (``all``, an admin acting with the admin scope), so every owner's
write bumps both its owner's tags and the ``all`` ones.

- ``task:<id>`` one task as read; ``<scope>:tasks`` unfiltered task lists;
  ``<scope>:tasks:status:<state>``, ``<scope>:tasks:tag:<name>`` and ``project:<id>:tasks``
  the lists filtered by state, tag name and project (a filtered list needs only one of its
  filters' tags: a task that matched all of them matched that one). ``<scope>:tasks:tag:*``:
  tag-filtered lists when a write cannot tell its task's tags. ``<scope>:tasks:bulk``: every
  task read, for writes that change tasks the session never loaded (a project deleted with
  its tasks, a tag deleted from its tasks).
- ``project:<id>`` one project with its task count; ``<scope>:projects`` project lists (with
  their task counts). ``tag:<id>`` one tag; ``<scope>:tags`` tag lists.
- ``principal:<id>`` every read of that principal (its admin flag decides what it sees).
- ``*`` every read: what the session cannot attribute bumps it (deny by default), as does any
  table this module does not know. A bulk statement run through the session is not
  attributable unless it says what it changes (``changes()``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from server.models import ApiToken, Principal, Project, Tag, Task, TaskStatus

EVERYTHING = "*"
ALL = "all"
# A statement's execution option: the tags it changes (``changes()``).
OPTION = "fns_cache_changes"


def scope(owner_id: int | None) -> str:
    """The tag scope of a reader who sees ``owner_id``'s rows; None: everyone's."""
    return ALL if owner_id is None else f"o{owner_id}"


def principal(principal_id: int) -> str:
    return f"principal:{principal_id}"


def task(task_id: int) -> str:
    return f"task:{task_id}"


def tasks(reader: str) -> str:
    return f"{reader}:tasks"


def tasks_bulk(reader: str) -> str:
    return f"{reader}:tasks:bulk"


def tasks_in_state(reader: str, status: str) -> str:
    return f"{reader}:tasks:status:{status}"


def tasks_tagged(reader: str, name: str) -> str:
    """``name`` "*": every tag-filtered list (a write that cannot tell its task's tags)."""
    return f"{reader}:tasks:tag:{name}"


def tasks_of_project(project_id: int) -> str:
    return f"project:{project_id}:tasks"


def project(project_id: int) -> str:
    return f"project:{project_id}"


def projects(reader: str) -> str:
    return f"{reader}:projects"


def tag(tag_id: int) -> str:
    return f"tag:{tag_id}"


def tags(reader: str) -> str:
    return f"{reader}:tags"


def changes(*tags: str) -> dict[str, tuple[str, ...]]:
    """Execution options of a bulk statement that changes what ``tags`` name."""
    return {OPTION: tags}


def owner_scopes(owner_ids: Iterable[int]) -> list[str]:
    """The scopes whose readers see these owners' rows: theirs and the admins'."""
    return [scope(owner) for owner in sorted(set(owner_ids))] + [ALL]


class _Unknown(Exception):
    """A write whose rows cannot be told: bump everything."""


def flushed(session: Session) -> set[str]:
    """The tags of what this flush changed (call from after_flush: the history is intact)."""
    try:
        return _flushed(session)
    except _Unknown:
        return {EVERYTHING}


def _flushed(session: Session) -> set[str]:
    changed: set[str] = set()
    written = [(obj, "new") for obj in session.new]
    written += [(obj, "dirty") for obj in session.dirty]
    written += [(obj, "deleted") for obj in session.deleted]
    owners = _ProjectOwners(session)
    for obj, how in written:
        if how == "dirty" and not _row_changed(session, obj):
            continue  # only the other side of a relationship moved: its owner says so
        if isinstance(obj, Task):
            changed |= _task(obj, how, owners)
        elif isinstance(obj, Project):
            changed |= _project(obj, how)
        elif isinstance(obj, Tag):
            changed |= _tag(obj, how)
        elif isinstance(obj, Principal):
            changed.add(principal(_one(obj, "id", how)))
        elif isinstance(obj, ApiToken):
            # No cached read shows tokens; the principal's, in case one ever does.
            changed |= {principal(p) for p in _values(obj, "principal_id", how)}
        else:
            raise _Unknown
    return changed


def _task(obj: Task, how: str, owners: _ProjectOwners) -> set[str]:
    project_ids = _values(obj, "project_id", how)
    statuses = _values(obj, "status", how, unknown=[s.value for s in TaskStatus])
    names = _tag_names(obj)
    moved = how != "dirty" or len(project_ids) > 1  # a count changed
    changed = {task(_one(obj, "id", how))}
    changed |= {tasks_of_project(p) for p in project_ids}
    if moved:
        changed |= {project(p) for p in project_ids}
    for reader in owner_scopes(owners.of(project_ids)):
        changed.add(tasks(reader))
        changed |= {tasks_in_state(reader, str(s)) for s in statuses}
        changed |= {tasks_tagged(reader, n) for n in (names if names is not None else ["*"])}
        if moved:
            changed.add(projects(reader))
    return changed


def _project(obj: Project, how: str) -> set[str]:
    project_id = _one(obj, "id", how)
    changed = {project(project_id)}
    owners = _values(obj, "owner_id", how)
    for reader in owner_scopes(owners):
        changed.add(projects(reader))
        # Deleted: its tasks go with it, in the database (ON DELETE CASCADE). Given to another
        # owner: its tasks change sides without being loaded.
        if how == "deleted" or len(owners) > 1:
            changed.add(tasks_bulk(reader))
    if how == "deleted":
        changed.add(tasks_of_project(project_id))
    return changed


def _tag(obj: Tag, how: str) -> set[str]:
    changed = {tag(_one(obj, "id", how))}
    for reader in owner_scopes(_values(obj, "owner_id", how)):
        changed.add(tags(reader))
        if how != "new":  # deleted or renamed: the tasks carrying it show its name
            changed.add(tasks_bulk(reader))
    return changed


def _values(
    obj: object, attribute: str, how: str, unknown: Collection[Any] | None = None
) -> set[Any]:
    """The attribute's values before and after this flush, as far as the session knows them;
    with ``unknown`` added (or _Unknown raised) when it does not know them all."""
    state = inspect(obj)
    assert state is not None  # a mapped object's (SQLAlchemy 2.0 types it Optional)
    history = state.attrs[attribute].history
    known = {*history.added, *history.unchanged, *history.deleted}
    # Set on a loaded row without its old value ever loaded: SQLAlchemy keeps no old value
    # (an old None would be in `deleted`). A new row has no old value to know.
    old_missing = bool(history.added) and not history.deleted and how != "new"
    if known and not old_missing:
        return known
    if unknown is None:
        raise _Unknown
    return {*known, *unknown}


def _one(obj: object, attribute: str, how: str) -> Any:
    values = _values(obj, attribute, how)
    if len(values) != 1:
        raise _Unknown
    return next(iter(values))


def _row_changed(session: Session, obj: object) -> bool:
    """A column changed, or a task's tags (rows of task_tags)."""
    if session.is_modified(obj, include_collections=False):
        return True
    if not isinstance(obj, Task):
        return False
    history = inspect(obj).attrs.tags.history
    return bool(history.added or history.deleted)


def _tag_names(obj: Task) -> set[str] | None:
    """The names of the task's tags before and after; None when the session never loaded them
    (a status change) or a tag's name is not loaded."""
    state = inspect(obj)
    if "tags" not in state.dict:
        return None
    history = state.attrs.tags.history
    names: set[str] = set()
    for row in (*history.added, *history.unchanged, *history.deleted):
        name = inspect(row).dict.get("name")
        if name is None:
            return None
        names.add(name)
    return names


class _ProjectOwners:
    """Owners of projects by id: from the session's own objects, else one query (Core, on the
    flush's connection: no ORM events, no row isolation)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[int, int] = {}
        for obj in (*session.new, *session.deleted):  # not (or no longer) in the identity map
            if isinstance(obj, Project):
                self._remember(obj)

    def _remember(self, obj: Project) -> None:
        values = inspect(obj).dict
        if "id" in values and "owner_id" in values:
            self.known[values["id"]] = values["owner_id"]

    def of(self, project_ids: Iterable[int]) -> set[int]:
        wanted = set(project_ids)
        for project_id in wanted - self.known.keys():
            key = inspect(Project).identity_key_from_primary_key((project_id,))
            loaded = self.session.identity_map.get(key)
            if isinstance(loaded, Project):
                self._remember(loaded)
        missing = wanted - self.known.keys()
        if missing:
            table = Project.__table__
            query = select(table.c.id, table.c.owner_id).where(table.c.id.in_(missing))
            found = self.session.connection().execute(query).all()
            rows: Mapping[int, int] = {row[0]: row[1] for row in found}
            if missing - rows.keys():
                raise _Unknown  # gone in this very flush, and not through the session
            self.known.update(rows)
        return {self.known[p] for p in wanted}
