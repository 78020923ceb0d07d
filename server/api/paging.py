"""Pages of results, with the link to the next one."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from flask import request, url_for
from pydantic import BaseModel

from server.api.request_parsing import normalised_query
from server.schemas.common import Page

ItemT = TypeVar("ItemT", bound=BaseModel)


def page(items: list[ItemT], total: int, limit: int, offset: int) -> Page[ItemT]:
    following = None
    if offset + limit < total:
        # From the validated query, not the raw one: the answer (and so its cached copy)
        # depends on what the query means, not on how it was spelt.
        values: dict[str, Any] = {**(request.view_args or {}), **normalised_query()}
        values.update(limit=limit, offset=offset + limit)
        following = url_for(request.endpoint or "", **values)
    # Page[BaseModel] serializes each item as its own model (SerializeAsAny), whatever ItemT is.
    built = Page[BaseModel](
        items=list[BaseModel](items), total=total, limit=limit, offset=offset, next=following
    )
    return cast(Page[ItemT], built)
