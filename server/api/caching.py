"""Cached API reads, keyed by everything an answer depends on (server/infra/cache.py stores them).

The key: the acting principal and its scopes (one principal's cached read never reaches
another), the script root (a mount point or trusted prefix shows up in next-page links), the
endpoint and its converted path arguments (``/projects/%32`` is ``/projects/2``), and the
validated query in a fixed order with defaults left out (``?limit=02&offset=0`` is
``?limit=2``). Nothing a client can vary without changing the answer makes a new entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ParamSpec

from flask import Response, request

from server.api.contract import contract_of
from server.api.request_parsing import normalised_query, parse_query
from server.auth.actor import current_actor
from server.infra import cache

P = ParamSpec("P")


def cached_read(view: Callable[P, Response]) -> Callable[P, Response]:
    """Serve this GET from the cache (see the module docstring for its key)."""
    return cache.cached(view, key=lambda: cache_key(view))


def cache_key(view: Callable[..., object]) -> str:
    """This request's key; an invalid query raises its 422 here, before the cache is read."""
    spec = contract_of(view)
    if spec is not None and spec.query is not None:
        parse_query(spec.query)
    actor = current_actor()
    return json.dumps(
        [
            actor.principal_id if actor else None,
            sorted(actor.scopes) if actor else None,
            request.script_root,
            request.endpoint,
            request.view_args or {},
            normalised_query(),
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
