"""Turn request bodies, query strings and If-Match headers into validated values, or problems."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from server.api.etags import is_if_match, parse_etag_list
from server.config.runtime import current_settings
from server.errors import Problem, validation_problem

ModelT = TypeVar("ModelT", bound=BaseModel)
# Per request, not flask.g: an app context can outlive one request (tests, CLI).
PARSED_QUERY = "fns.parsed_query"


def parse_body(model: type[ModelT]) -> ModelT:
    """The JSON body as ``model``: 415 if not JSON in UTF-8 without a content coding, 400 if
    malformed, 422 if invalid."""
    if _content_codings():
        # Nothing here decodes one: a gzip body would be read as if it were the JSON itself.
        raise Problem(
            415,
            "Send the body without a content coding (no Content-Encoding).",
            headers={"Accept-Encoding": "identity"},
        )
    if not _is_json(request.mimetype):
        raise Problem(415, "Send the body as application/json.")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise Problem(415, "Send the body in UTF-8 (charset=utf-8, or no charset).")
    raw = request.get_data(cache=False)
    try:
        # Decoded here, strictly: json.loads would guess UTF-16 or UTF-32 from the bytes, and
        # RFC 8259 wants UTF-8 without a byte order mark (json.loads refuses one in text).
        data: Any = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys
        )
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, a BOM, over-long integers and repeated keys;
        # RecursionError nesting.
        reason = "too deeply nested" if isinstance(exc, RecursionError) else "not valid JSON"
        raise Problem(400, f"The body is {reason}.", slug="malformed-json") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, "body") from None


def _is_json(mimetype: str) -> bool:
    """application/json, or a structured type on it such as application/merge-patch+json."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _content_codings() -> list[str]:
    """The codings Content-Encoding lists, but ``identity`` (none; RFC 9110 section 8.4)."""
    listed = ",".join(request.headers.getlist("Content-Encoding"))
    codings = (coding.strip().lower() for coding in listed.split(","))
    return [coding for coding in codings if coding and coding != "identity"]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique: with ``{"name": "a", "name": "b"}`` Python keeps the
    last and other parsers (a proxy's, a WAF's) the first, so two readers would disagree on
    what the client sent (RFC 8259 section 4 leaves it open)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a key is repeated in an object")
    return result


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON (RFC 8259) does not.
    raise ValueError(f"{name} is not JSON")


def parse_query(model: type[ModelT]) -> ModelT:
    """The query string as ``model``; a repeated parameter is an error, not a silent pick.

    Parsed once per request (the cache key and the next-page link use the same result).
    """
    parsed = request.environ.get(PARSED_QUERY)
    if isinstance(parsed, model):
        return parsed
    result = request.environ[PARSED_QUERY] = _parse_query(model)
    return result


def normalised_query() -> dict[str, Any]:
    """The validated query of this request as JSON values, without the defaults left alone.

    ``?limit=02``, ``?limit=+2`` and ``?limit=%32`` all become ``{"limit": 2}``: what the
    cache key and the next-page link are made of, never the raw string.
    """
    parsed: BaseModel | None = request.environ.get(PARSED_QUERY)
    if parsed is None:
        return {}
    return parsed.model_dump(mode="json", exclude_defaults=True)


def _parse_query(model: type[ModelT]) -> ModelT:
    args = request.args
    repeated = sorted(key for key in args if len(args.getlist(key)) > 1)
    if repeated:
        raise Problem(
            422,
            "The query is not valid.",
            errors=[
                {"in": "query", "field": key, "message": "given more than once", "type": "repeated"}
                for key in repeated
            ],
        )
    try:
        return model.model_validate(args.to_dict())
    except ValidationError as exc:
        raise validation_problem(exc, "query") from None


def expected_version() -> frozenset[int] | None:
    """The versions If-Match names, any of which may be current; None for ``*`` or (unless
    required) no header."""
    header = request.headers.get("If-Match")
    if header is None:
        if current_settings().require_if_match:
            raise Problem(428, "Send If-Match with the ETag from your last read of this resource.")
        return None
    header = header.strip()
    if header == "*":
        return None
    if not is_if_match(header):
        raise Problem(
            400, 'If-Match takes * or entity tags, as an ETag gives them ("v<version>", quoted).'
        )
    versions = parse_etag_list(header)
    if not versions:
        raise Problem(412, f"If-Match {header[:40]!r} matches no version of this resource.")
    return versions
