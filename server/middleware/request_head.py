"""Requests whose head HTTP forbids, refused with a 400 problem even where the server let them in.

Each server lets a different few through (what each refuses by itself: docs/operations.md):
- granian leaves out a header value with bytes outside visible ASCII and passes a repeated
  Host on; server/wsgi_bridge.py marks such a request with REFUSAL;
- neither requires Host on HTTP/1.1 (RFC 9112 section 3.2: 400);
- gunicorn takes the host from the Host header even for an absolute-form target
  (``GET http://host/path``), whose own host counts (RFC 9112 section 3.2.2): APP_TRUSTED_HOSTS
  then checked a host the request did not name. (The bridge does the same for granian.)
- an expectation other than 100-continue is refused with 417 (RFC 9110 section 10.1.1 allows
  it; gunicorn from 24 does so itself, gunicorn 23 (nixpkgs') and granian pass it on);
- a Host that is no host at all (a port past 65535, a space, raw UTF-8) is refused here, before
  APP_TRUSTED_HOSTS is consulted: werkzeug's own check only compares the name, and up to
  werkzeug 3.1.3 (nixpkgs' among them) IDNA-encoded a raw UTF-8 name and ignored the port.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request

from server.errors import Problem, bad_host
from server.wsgi_bridge import REFUSAL

# RFC 3986 section 3.2.2: an IP literal, or a name of unreserved, pct-encoded and sub-delims
# characters (an IPv4 address is such a name); then an optional port (section 3.2.3).
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::([0-9]{0,5}))?")
NOT_A_HOST = "fns.not_a_host"
UNMET_EXPECTATION = "fns.unmet_expectation"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RequestTarget:
    """WSGI middleware: the host an absolute-form target names; HTTP/1.1 without Host marked."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raw_uri = environ.get("RAW_URI", "")  # gunicorn's request target, as sent
        if not raw_uri.startswith("/") and "://" in raw_uri:
            authority = urlsplit(raw_uri).netloc
            if authority:
                environ["HTTP_HOST"] = authority
        host = environ.get("HTTP_HOST")
        if host is None and environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
            environ.setdefault(REFUSAL, "An HTTP/1.1 request needs a Host header.")
        elif host is not None and not is_host(host):
            environ[NOT_A_HOST] = True
        expect = environ.get("HTTP_EXPECT")
        if expect is not None and expect.strip().lower() != "100-continue":
            environ[UNMET_EXPECTATION] = True
        return self.app(environ, start_response)


def is_host(value: str) -> bool:
    """Whether a Host value is a host and optional port as RFC 3986 spells them."""
    match = _HOST.fullmatch(value)
    return match is not None and int(match.group(1) or 0) <= 65535


def refuse_marked_request() -> None:
    reason = request.environ.get(REFUSAL)
    if reason:
        raise Problem(400, reason)
    if request.environ.get(NOT_A_HOST):
        raise bad_host()
    if request.environ.get(UNMET_EXPECTATION):
        raise Problem(417, "The only expectation this server meets is 100-continue.")


def init_app(app: Flask) -> None:
    """Call after the other WSGI middleware (ProxyFix): the target's host comes first, and a
    trusted proxy's X-Forwarded-Host may still replace it."""
    app.wsgi_app = RequestTarget(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(refuse_marked_request)
