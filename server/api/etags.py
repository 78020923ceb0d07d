"""The one spelling of a resource version as an HTTP entity tag: written on answers, read from
If-Match."""

from __future__ import annotations

import re

# The version as format_etag writes it, without leading zeros: a tag is compared as a whole
# string (RFC 9110 section 8.8.3.2), so "v01" is not "v1", though both read as 1.
_VERSION = r"(?:0|[1-9][0-9]{0,9})"
_ETAG = re.compile(rf'^"v({_VERSION})"$')
# RFC 9110's If-Match (section 13.1.1): * or a list of entity tags (section 8.8.3), strong or
# weak, each a quoted string of visible characters but the quote, separated by commas and
# optional whitespace; a list may hold empty elements, or be empty (section 5.6.1). Not the
# obs-text RFC 9110 also lets a tag hold: the server refuses any header with bytes outside
# visible ASCII (400), and clients disagree on how to write such characters (UTF-8, Latin-1).
# A list that names none of our versions is a valid header whose condition fails: 412, as a
# stale tag is. Anything else is no If-Match at all: 400.
_OPAQUE_TAG = r'"[\x21\x23-\x7e]*"'
_ENTITY_TAG = rf"(?:W/)?{_OPAQUE_TAG}"
# Whitespace is taken only at the start and right after a tag or a comma, so each space has
# one place in the match: written as RFC 9110's rule reads (OWS on both sides of each comma,
# each element optional), ", , , x" backtracked exponentially (20 commas: minutes of CPU).
IF_MATCH_PATTERN = rf"^(?:\*|[ \t]*(?:{_ENTITY_TAG}[ \t]*)?(?:,[ \t]*(?:{_ENTITY_TAG}[ \t]*)?)*)$"
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
# One tag of such a list: whether it is weak, and the quoted tag.
_LISTED_TAG = re.compile(rf"(W/)?({_OPAQUE_TAG})")


def format_etag(version: int) -> str:
    return f'"v{version}"'


def parse_etag(value: str) -> int | None:
    """The version a strong ETag names, or None if it names none of ours."""
    match = _ETAG.match(value.strip())
    return int(match.group(1)) if match else None


def is_if_match(value: str) -> bool:
    """Whether ``value`` (stripped of surrounding whitespace) is If-Match's syntax."""
    return _IF_MATCH.match(value) is not None


def parse_etag_list(value: str) -> frozenset[int]:
    """The versions an If-Match list (``is_if_match``) names: none of ours in it, empty. Tag by
    tag, as another server's tags may hold commas; a weak tag (W/"v1") never matches (RFC 9110
    §13.1.1 compares If-Match strongly)."""
    return frozenset(
        version
        for weak, tag in _LISTED_TAG.findall(value)
        if not weak and (version := parse_etag(tag)) is not None
    )
