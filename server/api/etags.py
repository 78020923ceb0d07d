"""The one spelling of a resource version as an HTTP entity tag: written on answers, read from
If-Match."""

from __future__ import annotations

import re

# The version as format_etag writes it, without leading zeros: a tag is compared as a whole
# string (RFC 9110 section 8.8.3.2), so "v01" is not "v1", though both read as 1.
_VERSION = r"(?:0|[1-9][0-9]{0,9})"
_ETAG = re.compile(rf'^"v({_VERSION})"$')
_TAG = rf'"v{_VERSION}"'
# What If-Match takes, for the OpenAPI document: *, or one or more of our tags separated by
# commas (RFC 9110 §13.1.1: the condition holds if any of them is current). Anything else is a
# valid header that matches no version: 412, as a stale tag is.
IF_MATCH_PATTERN = rf"^(?:\*|{_TAG}(?:[ \t]*,[ \t]*{_TAG})*)$"


def format_etag(version: int) -> str:
    return f'"v{version}"'


def parse_etag(value: str) -> int | None:
    """The version a strong ETag names, or None if it names none of ours."""
    match = _ETAG.match(value.strip())
    return int(match.group(1)) if match else None


def parse_etag_list(value: str) -> frozenset[int]:
    """The versions an If-Match list names (none of ours in it: empty). Our tags hold no
    commas, so splitting on them is exact; a weak tag (W/"v1") never matches (RFC 9110 §13.1.1
    compares If-Match strongly)."""
    return frozenset(
        version for tag in value.split(",") if (version := parse_etag(tag)) is not None
    )
