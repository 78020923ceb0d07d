"""Cached API reads, keyed by everything an answer depends on (server/infra/cache.py stores them).

The key: the acting principal, its admin flag and its scopes (one principal's cached read
never reaches another, nor the same principal's once it stops being an admin), the script
root (a mount point or trusted prefix shows up in next-page links), the endpoint and its
converted path arguments (``/projects/%32`` is ``/projects/2``), and the validated query in a
fixed order with defaults left out (``?limit=02&offset=0`` is ``?limit=2``). Nothing a client
can vary without changing the answer makes a new entry.

Each cached view also says which rows its answer shows (``depends_on``: dependency tags from
server/infra/cache_dependencies.py, within what row isolation lets the reader see); a write
drops the entry when it changes any of them. Every entry also depends on its principal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec

from flask import Response, request
from pydantic import BaseModel

from server.api.contract import checked_query, contract_of
from server.api.request_parsing import normalised_query
from server.auth.actor import current_actor
from server.infra import cache
from server.infra import cache_dependencies as tags

P = ParamSpec("P")
NOBODY = "nobody"  # the scope of a read with no actor: no owned row is visible to it


@dataclass(frozen=True)
class Read:
    """What a cached view's dependencies are worked out from."""

    scope: str  # whose rows the reader sees: cache_dependencies.scope(), or NOBODY
    query: Any  # the validated query model, or None
    args: dict[str, Any]  # the converted path arguments


Dependencies = Callable[[Read], Iterable[str]]


def cached_read(
    depends_on: Dependencies,
) -> Callable[[Callable[P, Response]], Callable[P, Response]]:
    """Serve this GET from the cache (see the module docstring for its key), dropped by the
    writes that change what ``depends_on`` names."""

    def decorate(view: Callable[P, Response]) -> Callable[P, Response]:
        return cache.cached(view, key=lambda: cache_key(view, depends_on))

    return decorate


def cache_key(view: Callable[..., object], depends_on: Dependencies) -> cache.CacheKey:
    """This request's key; an invalid query raises its 422 here, before the cache is read."""
    spec = contract_of(view)
    query: BaseModel | None = None if spec is None else checked_query(spec)
    actor = current_actor()
    args = request.view_args or {}
    field = json.dumps(
        [
            actor.principal_id if actor else None,
            actor.is_admin if actor else None,
            sorted(actor.scopes) if actor else None,
            request.script_root,
            request.endpoint,
            args,
            normalised_query(),
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    if actor is None:
        return cache.CacheKey(field, tuple(depends_on(Read(NOBODY, query, args))))
    reader = tags.scope(None if actor.sees_everything else actor.principal_id)
    found = (tags.principal(actor.principal_id), *depends_on(Read(reader, query, args)))
    return cache.CacheKey(field, tuple(dict.fromkeys(found)))


# What each cached read shows. A filtered task list needs the tag of one filter only: a task
# that matched them all matched that one, and every write bumps the tags of each filter value
# its task had before and after.


def project_list(read: Read) -> list[str]:
    return [tags.projects(read.scope)]


def one_project(read: Read) -> list[str]:
    return [tags.project(read.args["project_id"])]


def task_list(read: Read) -> list[str]:
    query = read.query
    found = [tags.tasks_bulk(read.scope)]
    if query.project_id is not None:
        found.append(tags.tasks_of_project(query.project_id))
    elif query.tag is not None:
        found += [tags.tasks_tagged(read.scope, query.tag), tags.tasks_tagged(read.scope, "*")]
    elif query.status is not None:
        found.append(tags.tasks_in_state(read.scope, query.status.value))
    else:
        found.append(tags.tasks(read.scope))
    return found


def one_task(read: Read) -> list[str]:
    return [tags.task(read.args["task_id"]), tags.tasks_bulk(read.scope)]


def tag_list(read: Read) -> list[str]:
    return [tags.tags(read.scope)]


def one_tag(read: Read) -> list[str]:
    return [tags.tag(read.args["tag_id"])]
