"""The OpenAPI document's words: tag descriptions, and each operation's summary and description
from its view's docstring and what its contract promises."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel

from server.api.contract import Contract

# One per blueprint: an operation's tag is its blueprint's name.
TAGS = {
    "projects": "Projects own tasks; deleting one deletes its tasks.",
    "tasks": "Tasks belong to a project and carry tags.",
    "tags": "Labels for tasks, created as tasks name them.",
    "health": "Probes for process supervisors and load balancers.",
    "access": "Who you are (/me) and your own API tokens.",
    "admin": "Principals and their tokens, for admins.",
}


def docstring(view: Callable[..., Any], endpoint: str) -> tuple[str, str]:
    """The view's docstring: its first line is the summary, any paragraphs after it describe."""
    summary, _, rest = inspect.cleandoc(view.__doc__ or endpoint).partition("\n")
    return summary.strip(), rest.strip()


def contract_text(spec: Contract) -> str:
    """What the contract promises, in words: the answer, its headers, the conditions."""
    answer = f"Answers {spec.status} {HTTPStatus(spec.status).phrase}"
    if spec.response is not None:
        name = "a page of results" if _is_page(spec.response) else f"a `{spec.response.__name__}`"
        answer += f" with {name}"
    headers = [
        text
        for flag, text in (
            (spec.etag, "its version as `ETag`"),
            (spec.created, "its URL as `Location`"),
        )
        if flag
    ]
    if headers:
        answer += ", " + " and ".join(headers)
    sentences = [answer + "."]
    if spec.query is not None and _is_page(spec.response):
        sentences.append("Pages with `limit` and `offset`; `next` is the URL of the next page.")
    if spec.body is not None:
        sentences.append(
            "The body is JSON; unknown fields, wrong types and out-of-range values are 422."
        )
    if spec.references:
        sentences.append("A row the body names that does not exist, or is not yours, is 404.")
    if spec.query is None and not spec.open_query:
        sentences.append("It takes no query parameter: any one given is 422.")
    if spec.conditional:
        sentences.append(
            "Send the `ETag` of your last read as `If-Match`: if the resource changed since, "
            "the answer is 412 and nothing changes (400 for a value that is not If-Match's "
            "syntax)."
        )
    if spec.conflicts:
        sentences.append("409 when a name is taken or a concurrent write won.")
    return " ".join(sentences)


def _is_page(model: type[BaseModel] | None) -> bool:
    return model is not None and "items" in model.model_fields and "next" in model.model_fields
