"""Check a pooled PostgreSQL connection before use without a round trip when nothing is wrong.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` at every checkout: one round trip more per
request. py-spy put it at 25% of the request thread on a database read and 15% under
bench/load.py, more than any query of theirs. What it guards against is a connection the
server has closed while it sat in the pool (PostgreSQL restarted, the backend terminated, an
idle timeout in PostgreSQL or PgBouncer); the server then sends its error and closes the
socket, so the socket turns readable. Here each checkout polls the socket (no I/O) and pings
only when

- the socket is readable: a close, or data nobody asked for; the ping either fails (the
  connection is replaced, as pre-ping does) or reads what was there (a TLS record);
- the connection sat unused for more than ``IDLE_PING_AFTER`` seconds, for whatever else may
  have happened to it meanwhile (a close the poll cannot see).

A connection in steady use is not pinged; a dead one is still replaced before a request sees
it. Off with APP_DB_POOL_PRE_PING=false, as pre-ping was.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry

IDLE_PING_AFTER = 10.0
CHECKED_IN_AT = "fns.checked_in_at"


def watch(engine: Engine) -> None:
    """Check each of the engine's connections at checkout (see the module docstring)."""
    dialect = engine.dialect

    def check(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: object) -> None:
        checked_in_at = record.info.pop(CHECKED_IN_AT, None)
        if checked_in_at is None:
            return  # just connected
        idle = time.monotonic() - checked_in_at
        if idle <= IDLE_PING_AFTER and not _readable(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool disposes of it and checks out (connects) another.
                raise exc.DisconnectionError(str(error)) from error
            raise

    def checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:
            record.info[CHECKED_IN_AT] = time.monotonic()

    event.listen(engine, "checkout", check)
    event.listen(engine, "checkin", checked_in)


def _readable(dbapi_connection: Any) -> bool:
    """Whether the server sent anything (or closed) since the last answer was read."""
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # closed on our side: let the ping say so
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
