"""Request targets as logs and error reports show them: without credentials a client put there;
and database errors as they show them: without the values a statement carried.

The API takes credentials only in the Authorization header, but a client may still send one in
the URL (``?access_token=...``, ``?api_key=...``, a token pasted into a path), and the target
reaches the access lines, Sentry and the traces as sent. What is redacted:

- the value of a query parameter whose name says it holds a secret (SECRET_NAMES, compared
  case-insensitively and percent-decoded, ``-`` read as ``_``);
- anywhere in the path or query, decoded: this API's tokens (``fns_<prefix>_<secret>``) and
  anything shaped like a JWT (three base64url parts, the first a JSON object's ``eyJ``).

A target with nothing to redact is returned as it came; one with something is rebuilt from its
decoded parts, each credential replaced by REDACTED.
"""

from __future__ import annotations

import re
import traceback
from urllib.parse import parse_qsl, unquote, urlencode

REDACTED = "[redacted]"
SECRET_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "client_secret",
        "id_token",
        "jwt",
        "key",
        "passwd",
        "password",
        "refresh_token",
        "secret",
        "token",
    }
)
CREDENTIAL = re.compile(
    r"fns_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{20,}"  # this API's tokens (server/auth/tokens.py)
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"  # a JWT (JWS compact form)
)
# A target without these cannot hold a credential (a plain path): returned at once.
_MARKERS = ("?", "%", "fns_", "eyJ")
# In free text: a word that is a URL or a target, and the rest of a header line that gunicorn
# quotes whole when it has no colon (``Invalid HTTP Header: 'Authorization Bearer ...'``: all
# of it may be the credential).
_WORD = re.compile(r"[^\s'\"]+")
_HEADER_LINE = re.compile(r"""(Invalid HTTP Header: (['"])[^\s'"]*)\s.*\2""")


def redacted_target(target: str) -> str:
    """``target`` (a path with its query, as sent) without the credentials it carries."""
    if not any(marker in target for marker in _MARKERS):
        return target
    path, question, query = target.partition("?")
    shown_path, found = CREDENTIAL.subn(REDACTED, unquote(path))
    if not found:
        shown_path = path
    return f"{shown_path}?{redacted_query(query)}" if question else shown_path


def redacted_query(query: str) -> str:
    """A query string (without its ``?``) without the credentials it carries."""
    pairs = parse_qsl(query, keep_blank_values=True)
    shown = [(name, _shown_value(name, value)) for name, value in pairs]
    return query if shown == pairs else urlencode(shown, safe="[]")


def redacted_url(url: str) -> str:
    """An absolute URL, or a target, without the credentials it carries: its userinfo
    (``user:password@``), and what its path and query carry."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return redacted_target(url)
    authority, slash, target = rest.partition("/")
    _userinfo, at, host = authority.rpartition("@")
    shown = f"{REDACTED}@{host}" if at else authority
    return f"{scheme}://{shown}{slash}{redacted_target(slash + target)[len(slash) :]}"


def redacted_text(text: str) -> str:
    """Free text that may quote a request (a server's own log line) without the credentials
    it may carry: what redacted_url drops from a URL or target, this API's tokens and JWTs
    anywhere, and the value of a header line quoted whole."""
    text = _HEADER_LINE.sub(lambda m: f"{m.group(1)} {REDACTED}{m.group(2)}", text)
    text = _WORD.sub(lambda m: _shown_word(m.group()), text)
    return CREDENTIAL.sub(REDACTED, text)


def _shown_word(word: str) -> str:
    return redacted_url(word) if "://" in word or word.startswith("/") else word


def _shown_value(name: str, value: str) -> str:
    if name.strip().lower().replace("-", "_") in SECRET_NAMES:
        return REDACTED
    return CREDENTIAL.sub(REDACTED, value)


def database_error_report(exc: BaseException) -> str:
    """A driver error (SQLAlchemy's DBAPIError) as logs and the command line show it: its type,
    SQLSTATE and statement template, then the traceback's frames. Not its message: psycopg2
    binds parameters in the client, so PostgreSQL's message quotes the statement as sent, values
    and all ("LINE 1: ..."), and SQLAlchemy's lists the parameters."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "pgcode", None)
    statement = getattr(exc, "statement", None)
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    return f"{type(orig).__name__} (SQLSTATE {sqlstate}) in {statement}\n{frames}"
