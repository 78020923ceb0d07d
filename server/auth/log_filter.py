"""Adds ``principal`` (the acting principal's id, "-" when none) to every log record.

The id only: never a token, its prefix or its hash. gunicorn's access line is written after
the request, so it takes the id from the WSGI environ (``fns.principal``), as its format does.
"""

from __future__ import annotations

import contextlib
import logging

from server.auth.actor import current_actor


class PrincipalFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        actor = current_actor()
        principal = str(actor.principal_id) if actor else "-"
        if actor is None and record.name == "gunicorn.access":
            with contextlib.suppress(Exception):
                principal = str(record.args["{fns.principal}e"])  # type: ignore[index,call-overload]
        record.principal = principal
        return True
