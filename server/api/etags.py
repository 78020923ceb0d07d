"""The one spelling of a resource version as an HTTP entity tag: written on answers, read from
If-Match."""

from __future__ import annotations

import re

_ETAG = re.compile(r'^"v(\d{1,10})"$')


def format_etag(version: int) -> str:
    return f'"v{version}"'


def parse_etag(value: str) -> int | None:
    """The version a strong ETag names, or None if it names none of ours."""
    match = _ETAG.match(value.strip())
    return int(match.group(1)) if match else None
