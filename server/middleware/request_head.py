"""Requests whose head HTTP forbids, refused with a problem (400 unless said) even where the
server let them in.

Each server lets a different few through (what each refuses by itself: docs/operations.md):
- granian leaves out a header value with bytes outside visible ASCII and passes a repeated
  Host on; server/wsgi_bridge.py marks such a request with REFUSAL;
- neither requires Host on HTTP/1.1 (RFC 9112 section 3.2: 400);
- both undo the chunked framing of a body sent with other transfer codings too
  (``gzip, chunked``) and hand the rest on as if it had none: 501, as RFC 9112 section 6.1
  asks for a coding the server does not know; ``chunked, chunked`` (which no sender may send,
  and granian took for one) is 400;
- granian passes on a method not in upper case, which werkzeug upper-cases: ``get`` was served
  as GET (methods are case-sensitive, RFC 9110 section 9.1; gunicorn and nginx refuse it);
- gunicorn takes the host from the Host header even for an absolute-form target
  (``GET http://host/path``), whose own host counts (RFC 9112 section 3.2.2): APP_TRUSTED_HOSTS
  then checked a host the request did not name. (The bridge does the same for granian.) Its
  access line showed the target as sent, userinfo and all (``http://user:password@host/``):
  it now shows the path and query only (LOGGED_TARGET), as the app's own access line does,
  without credentials a client put there (server/redaction.py).
- an expectation other than 100-continue is refused with 417 (RFC 9110 section 10.1.1 allows
  it; gunicorn from 24 does so itself, gunicorn 23 (nixpkgs') and granian pass it on);
- werkzeug's server passes raw bytes in a query on, and werkzeug decodes the query strictly:
  one that is not UTF-8 (``?q=\\xe9``) was a 500 (gunicorn refuses raw non-ASCII, granian
  non-UTF-8, in a target; a percent-encoded byte is the app's to judge);
- a Host that is no host at all (a port past 65535, a space, raw UTF-8) is refused here, before
  APP_TRUSTED_HOSTS is consulted: werkzeug's own check only compares the name, and up to
  werkzeug 3.1.3 IDNA-encoded a raw UTF-8 name and ignored the port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit
from wsgiref.types import StartResponse, WSGIApplication

from flask import Flask, request

from server.errors import Problem, bad_host
from server.redaction import redacted_target
from server.wsgi_bridge import REFUSAL

# The status of a refusal, where it is not 400.
REFUSAL_STATUS = "fns.refusal_status"
# The request target gunicorn's access line shows (server/gunicorn_conf.py): path and query.
LOGGED_TARGET = "fns.target"
# RFC 3986 section 3.2.2: an IP literal, or a name of unreserved, pct-encoded and sub-delims
# characters (an IPv4 address is such a name); then an optional port (section 3.2.3).
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::([0-9]{0,5}))?")
NOT_A_HOST = "fns.not_a_host"


class RequestTarget:
    """WSGI middleware: the host an absolute-form target names, the target as logged, and a
    mark on each request the module docstring lists (refuse_marked_request answers it)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raw_uri = environ.get("RAW_URI", "")  # gunicorn's request target, as sent
        target = raw_uri
        if not raw_uri.startswith("/") and "://" in raw_uri:
            parts = urlsplit(raw_uri)
            if parts.netloc:
                environ["HTTP_HOST"] = parts.netloc
            # Without the scheme and authority, whose userinfo may hold a password.
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        environ[LOGGED_TARGET] = redacted_target(target)
        host = environ.get("HTTP_HOST")
        if host is None and environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
            environ.setdefault(REFUSAL, "An HTTP/1.1 request needs a Host header.")
        elif host is not None and not is_host(host):
            environ[NOT_A_HOST] = True
        method = environ.get("REQUEST_METHOD", "")
        if not method.isupper():
            environ.setdefault(REFUSAL, "The request method is not in upper case.")
        if not is_utf8(environ.get("QUERY_STRING", "")):
            environ.setdefault(REFUSAL, "The query string is not UTF-8.")
        coding = environ.get("HTTP_TRANSFER_ENCODING")
        if coding is not None and REFUSAL not in environ:
            refuse_transfer_coding(environ, coding)
        expect = environ.get("HTTP_EXPECT")
        if (
            expect is not None
            and REFUSAL not in environ
            and expect.strip().lower() != "100-continue"
        ):
            environ[REFUSAL] = "The only expectation this server meets is 100-continue."
            environ[REFUSAL_STATUS] = 417
        return self.app(environ, start_response)


def is_host(value: str) -> bool:
    """Whether a Host value is a host and optional port as RFC 3986 spells them."""
    match = _HOST.fullmatch(value)
    return match is not None and int(match.group(1) or 0) <= 65535


def is_utf8(wsgi_text: str) -> bool:
    """Whether a PEP 3333 string (bytes as latin-1) holds UTF-8."""
    if wsgi_text.isascii():
        return True
    try:
        wsgi_text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return False
    return True


def refuse_transfer_coding(environ: dict[str, Any], coding: str) -> None:
    """Mark a body sent with any transfer coding but ``chunked`` alone."""
    codings = [part.strip().lower() for part in coding.split(",")]
    if codings == ["chunked"]:
        return
    if set(codings) == {"chunked"}:
        environ[REFUSAL] = "The chunked transfer coding is applied more than once."
    else:
        environ[REFUSAL] = "Only the chunked transfer coding is implemented."
        environ[REFUSAL_STATUS] = 501


def refuse_marked_request() -> None:
    reason = request.environ.get(REFUSAL)
    if reason:
        status = request.environ.get(REFUSAL_STATUS, 400)
        raise Problem(status, reason)
    if request.environ.get(NOT_A_HOST):
        raise bad_host()


def init_app(app: Flask) -> None:
    """Call after the other WSGI middleware (ProxyFix): the target's host comes first, and a
    trusted proxy's X-Forwarded-Host may still replace it."""
    app.wsgi_app = RequestTarget(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(refuse_marked_request)
