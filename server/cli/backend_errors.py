"""What a command prints, in one line, when it cannot reach PostgreSQL or Redis, the database
is one the app cannot use (server/infra/database_encoding.py), or the server refuses it for
what APP_DATABASE_URL points at: a role without the privilege, a server taking no writes.

Only what the driver reports: libpq's and redis-py's messages name the host, port, user and
reason (and libpq adds a hint), never a password. Any other error from a backend (a constraint
violated, a statement the code got wrong) keeps its traceback: that is a bug or a data problem,
and the whole report is what its reader needs. The classes are looked up among the modules
already imported: a command that never reached a backend has not imported its driver.
"""

from __future__ import annotations

import sys

# SQLSTATEs of a refusal the operator fixes where APP_DATABASE_URL points, and how.
REFUSALS = {
    "42501": "the role APP_DATABASE_URL names lacks that privilege",  # insufficient_privilege
    "25006": "the server APP_DATABASE_URL names takes no writes (a standby, or"
    " default_transaction_read_only)",  # read_only_sql_transaction
}


def backend_error(exc: BaseException) -> str | None:
    """The line for ``exc`` if a backend could not be reached or refused the command as
    configured, else None."""
    if "sqlalchemy.exc" in sys.modules:
        from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

        if isinstance(exc, OperationalError | InterfaceError):
            # The driver's own lines, without SQLAlchemy's statement and link.
            return f"database unavailable: {_one_line(exc.orig) or type(exc.orig).__name__}"
        if isinstance(exc, DBAPIError):
            fix = REFUSALS.get(getattr(exc.orig, "pgcode", None) or "")
            if fix is not None:
                # The server's first line names what was refused (a table, a schema).
                reason = str(exc.orig or "").strip().splitlines()[:1]
                return f"database refused: {' '.join(reason)}: {fix}"
    encoding = sys.modules.get("server.infra.database_encoding")
    if encoding is not None and isinstance(exc, encoding.UnsupportedDatabase):
        return str(exc)
    if "redis.exceptions" in sys.modules:
        from redis.exceptions import ConnectionError, TimeoutError

        if isinstance(exc, ConnectionError | TimeoutError):
            return f"redis unavailable: {_one_line(exc) or type(exc).__name__}"
    return None


def _one_line(exc: BaseException | None) -> str:
    return " ".join(line.strip() for line in str(exc or "").splitlines() if line.strip())
