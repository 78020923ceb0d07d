"""Reads in one round trip: a safe request's statements run in autocommit, and may not write.

Outside autocommit, psycopg2 sends BEGIN before a connection's first statement, and the end
of the request rolls that transaction back: three round trips to PostgreSQL for a
primary-key read where the SELECT alone would do (py-spy: the ROLLBACK alone was 23% of a
database read's wall time). A request whose method is safe (GET, HEAD, OPTIONS, TRACE: RFC
9110, section 9.2.1) only reads, so its statements need no transaction of their own:

- The session binds such a request to the same engine with ``AUTOCOMMIT_OPTION``: the same
  pool, its connections switched to psycopg2's autocommit when checked out for it and
  switched back when checked in. Both are client-side flags: nothing is sent. (SQLAlchemy's
  own ``isolation_level="AUTOCOMMIT"`` resets the level at check-in with an explicit READ
  COMMITTED, and psycopg2 then sends ``SET default_transaction_isolation`` at the next switch:
  a round trip, and session state a PgBouncer in transaction mode would hand to others.)
- What reads see is unchanged. Under READ COMMITTED every statement took its own snapshot
  inside the transaction too; statements that must agree with each other (a project and its
  task count) are one statement, and stay so.
- Nothing can write. Every statement run while a safe request is answered goes through
  ``_refuse_writes``: an ORM flush, an INSERT, UPDATE or DELETE in any form, DDL, and textual
  SQL that does not start with SELECT raise ``WriteInSafeRequest`` before anything is sent,
  whether the request runs in autocommit or not (the tests' requests run inside a test's
  transaction): a programming error, answered 500 and logged with its traceback, never
  committed. A statement that must write anyway (a token's last use) carries
  ``WRITE_ALLOWED`` in its execution options. Not caught: a SELECT of a function that writes.
- A safe request that needs a transaction after all (``SET LOCAL`` in the readiness check)
  calls ``use_transaction()`` (server/infra/database.py): what it ran before, it ran in
  autocommit; what follows runs in a transaction, rolled back at the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from flask import Flask, current_app, has_request_context, request
from flask_sqlalchemy.session import Session
from sqlalchemy import Connection, Engine, event, orm
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.pool import ConnectionPoolEntry

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
AUTOCOMMIT_OPTION = "fns_autocommit"
_WRITE_ALLOWED = "fns_write_allowed"
WRITE_ALLOWED = MappingProxyType({_WRITE_ALLOWED: True})  # a statement's execution options
_TRANSACTION = "fns.db_transaction"  # in the request's environ: use_transaction() was called
_EXTENSION = "fns.autocommit_engines"  # in app.extensions: each engine's autocommit variant
# Textual SQL a safe request may run: what its first keyword says it does is read.
_FIRST_KEYWORD = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/|\()\s*)*(\w*)", re.DOTALL)
_READ_KEYWORDS = frozenset({"SELECT"})


class WriteInSafeRequest(RuntimeError):
    """A statement that writes, run while answering a safe request: a bug in the server."""


class RequestSession(Session):
    """Flask-SQLAlchemy's session; in a safe request, on the autocommit variant of its engine."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Engine | Connection | None = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        chosen = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        # A Connection (a test's transaction, joined by the session) is used as it is.
        if isinstance(chosen, Engine) and reads_only():
            return autocommit_engine(chosen)
        return chosen


def reads_only() -> bool:
    """Whether the current request's statements run in autocommit: safe, and not opted out."""
    return (
        has_request_context()
        and request.method in SAFE_METHODS
        and _TRANSACTION not in request.environ
    )


def use_transaction(session: orm.Session) -> None:
    """Run the rest of this safe request's statements in a transaction, as other requests do.

    What ``session`` ran so far ran in autocommit: its connection goes back to the pool (the
    rollback sends nothing, and has nothing to undo), and the next statement checks out one
    in a transaction.
    """
    if reads_only():
        if session.in_transaction():
            session.rollback()
        request.environ[_TRANSACTION] = True


def autocommit_engine(engine: Engine) -> Engine:
    """``engine`` with AUTOCOMMIT_OPTION: its pool, its connections in autocommit."""
    variants: dict[Engine, Engine] = current_app.extensions[_EXTENSION]
    return variants[engine]


def init_app(app: Flask, engines: Mapping[str | None, Engine]) -> None:
    """Prepare each of the app's engines: its autocommit variant, the switch, the guard."""
    variants: dict[Engine, Engine] = {}
    for engine in engines.values():
        # One variant per engine: the session keeps a connection per bind object.
        variants[engine] = engine.execution_options(**{AUTOCOMMIT_OPTION: True})
        event.listen(engine, "engine_connect", _switch_on)
        event.listen(engine, "checkin", _switch_off)
        event.listen(engine, "before_cursor_execute", _refuse_writes)
    app.extensions[_EXTENSION] = variants


def _switch_on(connection: Connection) -> None:
    if connection.get_execution_options().get(AUTOCOMMIT_OPTION):
        connection.connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]


def _switch_off(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Every pooled connection is out of autocommit: other checkouts get transactions.
    if dbapi_connection is not None and not dbapi_connection.closed:
        dbapi_connection.autocommit = False


def _refuse_writes(
    _connection: Connection,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    context: ExecutionContext | None,
    _executemany: bool,
) -> None:
    if not (has_request_context() and request.method in SAFE_METHODS):
        return
    if context is not None and context.execution_options.get(_WRITE_ALLOWED):
        return
    kind = _writes(statement, context)
    if kind is not None:
        raise WriteInSafeRequest(
            f"{kind} while answering {request.method} {request.path}: a "
            f"{'/'.join(sorted(SAFE_METHODS))} request only reads"
        )


def _writes(statement: str, context: ExecutionContext | None) -> str | None:
    """What the statement does that is not reading (INSERT, DDL, ...), or None if it reads."""
    if context is not None:
        flags = ("isinsert", "isupdate", "isdelete", "isddl")
        names = ("INSERT", "UPDATE", "DELETE", "DDL")
        for flag, name in zip(flags, names, strict=True):
            if getattr(context, flag, False):
                return name
        if not getattr(context, "is_text", True):
            return None  # a construct SQLAlchemy compiled, and none of the above: a SELECT
    match = _FIRST_KEYWORD.match(statement)
    keyword = match.group(1).upper() if match else ""
    return None if keyword in _READ_KEYWORDS else f"textual SQL ({keyword or 'empty'})"
