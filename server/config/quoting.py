"""How a refused setting's value appears in its one-line error: quoted, escaped and short.

A value may be anything an environment variable can hold: a newline would split the one line
in two (a log reader takes the rest for a new record), and a 100 KB value would be all the
operator sees of the message.
"""

from __future__ import annotations

LIMIT = 60


def quoted(value: str, limit: int = LIMIT) -> str:
    """``value`` as a Python literal (control characters escaped), cut after ``limit``
    characters with the full length said."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def one_line(message: str, limit: int = 400) -> str:
    """``message`` on one line, at most about ``limit`` characters: the last guard, for text
    that did not come through ``quoted`` (a library's message)."""
    flat = message.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= limit else f"{flat[:limit]}..."
