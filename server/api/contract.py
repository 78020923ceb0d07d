"""Each view's contract: what it takes and answers. It validates requests and feeds the OpenAPI
document (server/openapi.py), so the two cannot drift apart."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from server.api.request_parsing import parse_body, parse_query

ViewT = TypeVar("ViewT", bound=Callable[..., Any])


@dataclass(frozen=True)
class Contract:
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # None: 204 No Content
    status: int = 200
    conflicts: bool = False  # may answer 409 (unique names, concurrent writers)
    conditional: bool = False  # honours If-Match (412, 428)
    etag: bool = False  # the answer carries the resource's ETag
    created: bool = False  # the answer carries Location


def contract(**terms: Any) -> Callable[[ViewT], ViewT]:
    """Declare a view's contract; the parsed body and query arrive as ``body=`` and ``query=``."""
    spec = Contract(**terms)

    def decorate(view: ViewT) -> ViewT:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if spec.query is not None:
                kwargs["query"] = parse_query(spec.query)
            if spec.body is not None:
                kwargs["body"] = parse_body(spec.body)
            return view(*args, **kwargs)

        wrapper.contract = spec  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def contract_of(view: Callable[..., Any]) -> Contract | None:
    return getattr(view, "contract", None)
