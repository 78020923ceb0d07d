"""The one spelling of a resource version as an HTTP entity tag: written on answers, read from
If-Match."""

from __future__ import annotations

import re

_ETAG = re.compile(r'^"v([0-9]{1,10})"$')
# What If-Match takes, for the OpenAPI document: one of our tags, or *. Anything else is a valid
# header that matches no version (RFC 9110): 412, as a stale tag is.
IF_MATCH_PATTERN = r'^(?:\*|"v[0-9]{1,10}")$'


def format_etag(version: int) -> str:
    return f'"v{version}"'


def parse_etag(value: str) -> int | None:
    """The version a strong ETag names, or None if it names none of ours."""
    match = _ETAG.match(value.strip())
    return int(match.group(1)) if match else None
