"""What a command prints instead of a traceback when a backend is at fault.

- PostgreSQL or Redis cannot be reached: one line, the driver's reason. libpq's and redis-py's
  messages name the host, port, user and reason (and libpq adds a hint), never a password.
- The database is one the app cannot use (server/infra/database_encoding.py), or the server
  refuses the command for what APP_DATABASE_URL points at (a role without the privilege, a
  server taking no writes, a schema older than the code): one line saying what to fix.
- Any other database error: its type, SQLSTATE, statement template and the traceback's frames,
  not its message, which quotes the statement's values (server/redaction.py); a command's
  output may end up in a journal.

Any other error (Redis refusing a command included) keeps its traceback. The classes are looked
up among the modules already imported: a command that never reached a backend has not
imported its driver.
"""

from __future__ import annotations

import sys


def backend_error(exc: BaseException) -> str | None:
    """What to print for ``exc`` if a backend is at fault (see above), else None."""
    if "sqlalchemy.exc" in sys.modules:
        from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

        if isinstance(exc, OperationalError | InterfaceError):
            # The driver's own lines, without SQLAlchemy's statement and link.
            return f"database unavailable: {_one_line(exc.orig) or type(exc.orig).__name__}"
        if isinstance(exc, DBAPIError):
            from psycopg2 import errorcodes

            from server.redaction import database_error_report

            # The refusals the operator fixes where APP_DATABASE_URL points, and a schema older
            # than the code (a command run before `db upgrade`, or after a downgrade).
            behind = (
                "the database is not migrated to this version: run `flask-nix-stack db upgrade`"
            )
            fixes = {
                errorcodes.UNDEFINED_TABLE: behind,
                errorcodes.UNDEFINED_COLUMN: behind,
                errorcodes.INSUFFICIENT_PRIVILEGE: "the role APP_DATABASE_URL names lacks that"
                " privilege",
                errorcodes.READ_ONLY_SQL_TRANSACTION: "the server APP_DATABASE_URL names takes no"
                " writes (a standby, or default_transaction_read_only)",
            }
            fix = fixes.get(getattr(exc.orig, "pgcode", None) or "")
            if fix is None:
                return f"database error: {database_error_report(exc)}"
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
