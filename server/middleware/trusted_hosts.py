"""APP_TRUSTED_HOSTS, with the list IDNA-encoded once instead of on every request.

werkzeug's ``host_is_trusted`` encodes each trusted entry per request (about 0.8 µs an entry,
so it matters for long lists). This keeps its exact rules, on an encoding done at start-up: the Host
must be valid (werkzeug's own check, given no list), then its name without the port equals an
entry (encoded as werkzeug encodes it, case-sensitively) or, for an entry with a leading dot,
is it or ends with "." and it. Anything else raises werkzeug's SecurityError where Flask would
(building the URL adapter), so the same 400 problem answers it (server/errors.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_host


def encode(entry: str) -> str:
    """An entry as werkzeug compares it: without its port, IDNA-encoded. Raises UnicodeError."""
    return entry.removeprefix(".").partition(":")[0].encode("idna").decode("ascii")


class TrustedHosts:
    def __init__(self, entries: Iterable[str]) -> None:
        entries = list(entries)
        self.entries = entries  # as configured, for werkzeug's own check of odd requests
        self.names = frozenset(encode(entry) for entry in entries)
        self.suffixes = tuple("." + encode(entry) for entry in entries if entry.startswith("."))

    def name_is_trusted(self, name: str) -> bool:
        return name in self.names or name.endswith(self.suffixes)

    def check(self, environ: dict[str, Any]) -> None:
        """Raise SecurityError unless the request's host is trusted (werkzeug's rules)."""
        # Without a list werkzeug still checks the characters and the port: "" when they are
        # invalid or there is no host at all. Those rare cases take werkzeug's full path.
        host = get_host(environ)
        if not host:
            get_host(environ, self.entries)
            return
        # Valid, so either "[v6]" or "name", each with an optional ":port".
        name = host[: host.index("]") + 1] if host.startswith("[") else host.partition(":")[0]
        if not self.name_is_trusted(name):
            raise SecurityError(f"Host {host!r} is not trusted.")
