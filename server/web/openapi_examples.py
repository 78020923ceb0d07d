"""Examples for the OpenAPI document's bodies: a model's own (its schema's `examples`), a page
built from its items' example, and a problem document per error status."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel

from server.errors import STATUS_SLUGS, TYPE_BASE
from server.schemas.common import Page

# What each error the API documents says, in a typical case (the messages the server writes).
PROBLEM_DETAILS = {
    400: "The body is not valid JSON.",
    401: "Send a bearer token in the Authorization header.",
    403: "The token does not carry the scope this operation needs.",
    404: "Project 42 does not exist.",
    409: "A project named 'Home' already exists.",
    412: "If-Match 'v1' matches no version of this resource.",
    413: "The data value transmitted exceeds the capacity limit.",
    415: "Send the body as application/json.",
    422: "The body is not valid.",
    428: "Send If-Match with the ETag from your last read of this resource.",
    429: "Rate limit exceeded: 300 per 1 minute.",
    500: "The server failed to handle the request.",
    503: "The database is unavailable; retry shortly.",
}
# The example shows the common case where a status has several problem types.
SLUGS = {400: "malformed-json", 409: "duplicate"}


def model_example(model: type[BaseModel]) -> Any | None:
    """The model's first example; for a page, one built from its item model's example."""
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict) and extra.get("examples"):
        return extra["examples"][0]  # type: ignore[index]
    if issubclass(model, Page):
        (item,) = model.__pydantic_generic_metadata__["args"]
        inner = model_example(item)
        if inner is not None:
            return {"items": [inner], "total": 1, "limit": 20, "offset": 0, "next": None}
    return None


def problem_example(status: int) -> dict[str, Any]:
    """A problem document as the API answers it for ``status``."""
    example: dict[str, Any] = {
        "type": TYPE_BASE + SLUGS.get(status, STATUS_SLUGS.get(status, "error")),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": PROBLEM_DETAILS.get(status, HTTPStatus(status).description),
    }
    if status == 422:
        example["errors"] = [
            {
                "in": "body",
                "field": "name",
                "message": "String should have at least 1 character",
                "type": "string_too_short",
            }
        ]
    return example
