"""Pages of results, with the link to the next one."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from flask import request, url_for
from pydantic import BaseModel

from server.api.request_parsing import normalised_query
from server.schemas.common import Page
from server.services.common import Listing

ItemT = TypeVar("ItemT", bound=BaseModel)
# Parametrized once, here: pydantic keeps parametrized generics in a weak cache, so Page[...]
# written in page() built a new model class whenever nothing else held the last one. py-spy had
# that at about half of a task list's time under bench/load.py.
ANY_PAGE = Page[BaseModel]


def page(
    items: list[ItemT], listing: Listing[Any], limit: int, offset: int, last_key: object
) -> Page[ItemT]:
    """The answer for one page; ``last_key`` is the page's last sort key (its ``after``).

    The next page is always linked by ``after``: its cost does not grow with the depth.
    """
    following = None
    if listing.more:
        # From the validated query, not the raw one: the answer (and so its cached copy)
        # depends on what the query means, not on how it was spelt.
        values: dict[str, Any] = {**(request.view_args or {}), **normalised_query()}
        values.pop("offset", None)
        values.update(limit=limit, after=last_key)
        following = url_for(request.endpoint or "", **values)
    # Page[BaseModel] serializes each item as its own model (SerializeAsAny), whatever ItemT is.
    built = ANY_PAGE(
        items=list[BaseModel](items),
        total=listing.total,
        total_capped=listing.total_capped,
        limit=limit,
        offset=offset,
        next=following,
    )
    return cast("Page[ItemT]", built)  # a string: Page[ItemT] would build a class, too
