"""Each view's contract: what it takes and answers. It validates requests, builds the answer it
declares (status, ETag, Location) and feeds the OpenAPI document (server/openapi.py), so the
three cannot drift apart.

A view returns what its contract promises and nothing about HTTP:
- ``None`` when ``response`` is None (204 No Content);
- the output model, e.g. a ``Page`` for a list;
- ``(output, resource)`` when the contract declares ``etag`` or ``created``: the resource's
  ``version`` becomes the ETag and its ``id`` the Location (the ``created`` endpoint's URL).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol

from flask import Response, request, url_for
from pydantic import BaseModel

from server.api.etags import format_etag
from server.api.request_parsing import parse_body, parse_query
from server.schemas.common import NoQuery

P = ParamSpec("P")


class Resource(Protocol):
    """What the answer's headers are made from: a stored row's identity and version."""

    @property
    def id(self) -> int: ...

    @property
    def version(self) -> int: ...


Answer = BaseModel | tuple[BaseModel, Resource] | Response | None


@dataclass(frozen=True)
class Contract:
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # None: 204 No Content
    status: int = 200
    conflicts: bool = False  # may answer 409 (unique names, concurrent writers)
    conditional: bool = False  # honours If-Match (412, 428)
    references: bool = False  # the body names other rows (404 when one is missing or not yours)
    etag: bool = False  # the answer carries the resource's ETag
    created: str | None = None  # endpoint whose URL, for the new id, goes in Location
    # Takes any query string and ignores it (the health probes: monitors add cache-busting
    # parameters). Otherwise a parameter the contract does not declare is a 422.
    open_query: bool = False

    def __post_init__(self) -> None:
        if (self.response is None) != (self.status == 204):
            raise TypeError("a contract answers 204 exactly when it has no response model")


def contract(**terms: Any) -> Callable[[Callable[P, Any]], Callable[P, Response]]:
    """Declare a view's contract; the parsed body and query arrive as ``body=`` and ``query=``."""
    spec = Contract(**terms)

    def decorate(view: Callable[P, Any]) -> Callable[P, Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
            query = checked_query(spec)
            if spec.query is not None:
                kwargs["query"] = query
            if spec.body is not None:
                kwargs["body"] = parse_body(spec.body)
            return answer(spec, view(*args, **kwargs))

        wrapper.contract = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def checked_query(spec: Contract) -> BaseModel | None:
    """The request's query as ``spec`` declares it (422 for a parameter it does not)."""
    if spec.query is not None:
        return parse_query(spec.query)
    if not spec.open_query and request.environ.get("QUERY_STRING"):
        parse_query(NoQuery)
    return None


def answer(spec: Contract, result: Answer) -> Response:
    """The response ``spec`` declares, from what the view returned."""
    if isinstance(result, Response):  # a view that answers in a shape of its own (health)
        return result
    if spec.response is None:
        if result is not None:
            raise TypeError("a 204 view returns None")
        return Response(status=204)
    output, resource = result if isinstance(result, tuple) else (result, None)
    if output is None or (resource is None and (spec.etag or spec.created)):
        raise TypeError("this contract needs (output, resource) from its view")
    response = Response(output.model_dump_json(), spec.status, mimetype="application/json")
    if spec.etag and resource is not None:
        response.headers["ETag"] = format_etag(resource.version)
    if spec.created and resource is not None:
        response.headers["Location"] = _url_of(spec.created, resource.id)
    return response


def _url_of(endpoint: str, ident: int) -> str:
    if endpoint.startswith("."):
        endpoint = f"{request.blueprint}{endpoint}"
    (rule,) = request.url_rule.map.iter_rules(endpoint)  # type: ignore[union-attr]
    (argument,) = rule.arguments
    values: dict[str, Any] = {argument: ident}
    return url_for(endpoint, **values)


def contract_of(view: Callable[..., Any]) -> Contract | None:
    return getattr(view, "contract", None)
