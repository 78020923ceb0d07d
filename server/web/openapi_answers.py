"""The OpenAPI document's answers: each operation's success and problem responses with the
headers they carry, and the conditional-request header."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from server.api.contract import Contract
from server.api.etags import IF_MATCH_PATTERN
from server.errors import PROBLEM_MEDIA_TYPE
from server.schemas.problem import ProblemDetails
from server.web.openapi_examples import model_example, problem_example

# Turns a model into a $ref to its schema in components.
Ref = Callable[[type[BaseModel], JsonSchemaMode], dict[str, Any]]


# What a client may read off an answer: (description, schema) by header name.
HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ETag": (
        'The resource\'s version, "v<version>": send it back as If-Match.',
        {"type": "string"},
    ),
    "Location": ("The URL of the resource just created.", {"type": "string"}),
    "WWW-Authenticate": ("RFC 6750 challenge: Bearer, with error and scope.", {"type": "string"}),
    "Retry-After": ("Seconds to wait before trying again.", {"type": "integer", "minimum": 0}),
    "X-RateLimit-Limit": ("Requests the window allows.", {"type": "integer", "minimum": 0}),
    "X-RateLimit-Remaining": ("Requests left in the window.", {"type": "integer", "minimum": 0}),
    "X-RateLimit-Reset": ("When the window ends, in Unix seconds.", {"type": "integer"}),
}
RATE_LIMIT = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
# The headers a problem status carries, and whether every such answer has them (429 always
# does; a 503 from the readiness probe has no Retry-After). Inline, not $ref: a Reference Object
# cannot say `required`.
PROBLEM_HEADERS: dict[int, tuple[tuple[str, ...], bool]] = {
    401: (("WWW-Authenticate",), False),
    403: (("WWW-Authenticate",), False),
    429: (RATE_LIMIT, True),
    503: (("Retry-After",), False),
}


def _headers(names: tuple[str, ...], *, required: bool) -> dict[str, Any]:
    return {
        name: {"description": HEADERS[name][0], "required": required, "schema": HEADERS[name][1]}
        for name in names
    }


def media(model: type[BaseModel], schema: dict[str, Any]) -> dict[str, Any]:
    """A media type object: the model's schema, and its example when it has one."""
    content: dict[str, Any] = {"schema": schema}
    example = model_example(model)
    if example is not None:
        content["example"] = example
    return content


def if_match(spec: Contract) -> list[dict[str, Any]]:
    if not spec.conditional:
        return []
    return [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": 'The ETag of your last read ("v<version>"), or *.',
            "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
        }
    ]


def responses(spec: Contract, ref: Ref, *, has_id: bool, scope: str | None) -> dict[str, Any]:
    """The success answer ``spec`` declares, and a problem answer for each error it can meet."""
    success: dict[str, Any] = {"description": HTTPStatus(spec.status).phrase}
    if spec.response is not None:
        schema = ref(spec.response, "serialization")
        success["content"] = {"application/json": media(spec.response, schema)}
    headers = tuple(
        name for name, flag in (("ETag", spec.etag), ("Location", spec.created)) if flag
    )
    if headers:
        success["headers"] = _headers(headers, required=True)
    # Malformed requests, a request line or headers over the server's limits, rate limits, and
    # the server's own failures.
    statuses = {400, 414, 429, 431, 500, 503}
    if scope is not None:
        statuses |= {401, 403}  # no or bad credential; a credential without the scope
    if not spec.open_query or spec.body is not None:
        statuses.add(422)  # an undeclared query parameter is one, even where none is declared
    if spec.body is not None:
        statuses |= {413, 415}
    if has_id or spec.references:
        statuses.add(404)
    if spec.conflicts:
        statuses.add(409)
    if spec.conditional:
        statuses |= {412, 428}
    problem = ref(ProblemDetails, "serialization")
    answers = {str(spec.status): success}
    for status in sorted(statuses):
        answers[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_MEDIA_TYPE: {"schema": problem, "example": problem_example(status)}
            },
        }
        if status in PROBLEM_HEADERS:
            names, always = PROBLEM_HEADERS[status]
            answers[str(status)]["headers"] = _headers(names, required=always)
    return answers
