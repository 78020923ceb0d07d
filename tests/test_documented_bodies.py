"""What a request body model accepts, its schema in the OpenAPI document accepts, and the other
way round: the two checks an outside fuzzer makes (negative_data_rejection: an invalid request
taken; positive_data_acceptance: a valid one refused), made field by field without a server.

Each field of each body gets probe values of every JSON type and of the edges that pydantic's
lax parsing, stripping or PostgreSQL's limits make interesting; the example body with that one
field replaced must be valid to both or to neither. The document is validated with jsonschema
(draft 2020-12, formats checked), as schemathesis validates it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from flask import Flask
from pydantic import BaseModel, ValidationError

from server.api.contract import contract_of
from server.schemas.common import SPACE, SPACES
from server.schemas.projects import ProjectCreate
from server.web.openapi import build_openapi

# (probe, why). A probe goes in alone and as the one item of a list (for list fields).
PROBES: list[tuple[Any, str]] = [
    (0, "a number where a date-time is due: pydantic took it as the epoch"),
    (-1, "a negative number"),
    (1.5, "a fraction"),
    (2.0, "an integer to JSON Schema, written with a fraction (schemathesis sends 1399.0)"),
    (2**31 - 1.0, "the largest int4, so written"),
    (1e300, "beyond every integer column"),
    (True, "a boolean where a number is due"),
    (None, "null"),
    ([], "an array"),
    ({}, "an object"),
    ("1", "a numeric string: pydantic's lax int, bool and datetime all take it"),
    ("0", "another"),
    ("true", "a boolean as a string"),
    ("yes", "pydantic's lax bool took it"),
    ("", "empty"),
    (" ", "whitespace alone: stripped to an empty name"),
    ("\u3000", "ideographic space: whitespace to Python and ECMA-262 alike"),
    ("\ufeff", "a BOM: whitespace to ECMA-262, not to Python"),
    ("\x1f", "unit separator: whitespace to Python, not to ECMA-262"),
    (" urgent", "leading whitespace: stripped, then the tag pattern passed"),
    ("urgent ", "trailing whitespace"),
    ("\xa0urgent", "a no-break space before"),
    (" " + "x" * 200, "over 200 characters as sent, 200 once stripped"),
    ("x" * 201, "over 200"),
    ("URGENT", "upper case (a tag is stored lower-case)"),
    ("a\x00b", "NUL: PostgreSQL text cannot hold it"),
    ("\u200b", "a zero-width space alone: a name that lists as blank"),
    ("\u200bx\u00ad", "invisible characters beside a visible one"),
    ("a\u202eb", "a bidi override: a name shown other than it is"),
    ("\u2067x\u2069", "bidi isolates"),
    ("\u0645\u0631\u062d\u0628\u0627", "right-to-left text, which needs no control"),
    ("2026-12-24T17:00:00Z", "an RFC 3339 date-time"),
    ("2026-12-24t17:00:00z", "lower-case t and z (RFC 3339 allows them)"),
    ("2026-12-24T17:00:00.123456789+05:30", "fractions beyond microseconds"),
    ("2026-12-24T17:00Z", "no seconds: pydantic took it"),
    ("2026-12-24 17:00:00Z", "a space for the T: pydantic took it"),
    ("2026-12-24T17:00:00+0500", "an offset without its colon: pydantic took it"),
    ("2026-12-24T17:00:00", "no offset"),
    ("2026-12-24T23:59:60Z", "a leap second: Python has none"),
    ("0001-01-01T01:00:00+05:00", "1 BC in UTC"),
    ("9999-12-31T23:00:00-05:00", "year 10000 in UTC"),
    ("2026-02-30T00:00:00Z", "no such day"),
]


def json_schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    """The component ``name`` as a standalone schema, its references pointing into $defs."""
    components = document["components"]["schemas"]
    text = json.dumps({**components[name], "$defs": components})
    return json.loads(text.replace("#/components/schemas/", "#/$defs/"))  # type: ignore[no-any-return]


def body_models(app: Flask) -> list[type[BaseModel]]:
    found: dict[type[BaseModel], None] = {}
    for view in app.view_functions.values():
        spec = contract_of(view)
        if spec is not None and spec.body is not None:
            found[spec.body] = None
    return list(found)


def accepts(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def test_every_body_field_accepts_what_its_document_accepts(app: Flask) -> None:
    # jsonschema checks date-time only with rfc3339-validator importable (openapi-spec-validator
    # brings it); without it every format would pass unchecked, and this test would mislead.
    assert "date-time" in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers
    document = build_openapi(app)
    disagreements = []
    models = body_models(app)
    assert len(models) >= 8, models  # projects, tasks, tags, tokens, principals
    for model in models:
        schema = json_schema_of(document, model.__name__)
        checker = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        example = schema["examples"][0]
        assert checker.is_valid(example), model
        assert accepts(model, example), model
        for field in model.model_fields:
            for probe, why in PROBES:
                for value in (probe, [probe]):
                    body = {**example, field: value}
                    documented, taken = checker.is_valid(body), accepts(model, body)
                    if documented != taken:
                        disagreements.append(
                            f"{model.__name__}.{field} = {value!r} ({why}): the document "
                            f"{'accepts' if documented else 'refuses'} it, the model "
                            f"{'accepts' if taken else 'refuses'} it"
                        )
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("  Alpha  ", "Alpha"),
        ("\u3000Alpha\t", "Alpha"),
        ("\ufeffAlpha\x1f", "Alpha"),  # whitespace to ECMA-262 only, to Python only
    ],
)
def test_names_are_stored_stripped(value: str, stored: str) -> None:
    assert ProjectCreate.model_validate({"name": value}).name == stored


def test_the_patterns_whitespace_is_every_dialects() -> None:
    """SPACE (in patterns) and SPACES (stripped) are the same set: Python's whitespace and
    ECMA-262's together."""
    ecma = set("\t\n\x0b\x0c\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff")
    ecma |= set(map(chr, range(0x2000, 0x200B)))
    python = {c for c in map(chr, range(0x110000)) if c.isspace()}
    in_class = {c for c in map(chr, range(0x10000)) if re.fullmatch(f"[{SPACE}]", c)}
    assert set(SPACES) == in_class == python | ecma
