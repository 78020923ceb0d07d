"""Extension objects safe to share between apps, unbound: the factory binds them."""

from __future__ import annotations

import logging

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from psycopg2 import errorcodes
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError

from server.config import Settings
from server.infra import safe_requests
from server.infra.database_encoding import CLIENT_ENCODING
from server.models.base import Base

log = logging.getLogger(__name__)

# Safe requests (GET, HEAD...) read in autocommit, and may not write (server/infra/safe_requests).
db = SQLAlchemy(model_class=Base, session_options={"class_": safe_requests.RequestSession})


def configure(app: Flask, settings: Settings) -> None:
    """The settings Flask-SQLAlchemy reads, before ``init_app``."""
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url.get_secret_value(),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings),
    )


def engine_options(settings: Settings) -> dict[str, object]:
    connect_args: dict[str, object] = {
        "connect_timeout": settings.db_connect_timeout,
        "client_encoding": CLIENT_ENCODING,  # server/infra/database_encoding.py
    }
    # A startup parameter: PgBouncer refuses unknown ones such as `options`, so with the
    # timeout at 0 none is sent, and the role's own statement_timeout applies instead.
    if settings.db_statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={settings.db_statement_timeout_ms}"
    if settings.db_ca_file:
        # Encrypted, and the server's certificate must chain to this CA and name its host.
        connect_args.update(sslmode="verify-full", sslrootcert=settings.db_ca_file)
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        # Checked at checkout without a round trip instead (server/infra/pool_checks.py).
        "pool_pre_ping": False,
        # A driver error's message carries the statement's parameters (SQLAlchemy's
        # "[parameters: ...]"), and an unexpected one is logged whole, traceback and all:
        # token digests, names and whatever a client sent would reach the logs.
        "hide_parameters": True,
        "connect_args": connect_args,
    }


def init_app(app: Flask) -> None:
    """Bind ``db``; a connection lost by the end of a request leaves its answer as it was."""
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            event.listen(engine, "handle_error", _read_only_is_a_lost_connection)
        safe_requests.init_app(app, db.engines)
    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (Flask runs them in
    # reverse); the session it leaves behind is gone, so that one finds nothing to close.
    app.teardown_appcontext(_close_session)


def _read_only_is_a_lost_connection(context: ExceptionContext) -> None:
    """A write refused by a read-only server is handled as a lost connection.

    After a failover the old primary comes back as a standby, and a server can be made
    read-only (default_transaction_read_only) for maintenance: either way the pool's
    connections reach a server that refuses every write, and kept, they failed each one (500)
    until recycled. Taken for a disconnect, SQLAlchemy drops that connection and every pooled
    one older than it, the request is answered 503 with Retry-After (server/errors.py), and
    the next connections go wherever the URL points now.
    """
    pgcode = getattr(context.original_exception, "pgcode", None)
    if pgcode == errorcodes.READ_ONLY_SQL_TRANSACTION:
        # What SQLAlchemy's docs say to set; 2.0's annotations miss it (__slots__).
        context.is_disconnect = True  # type: ignore[misc, unused-ignore]


def use_transaction() -> None:
    """The rest of this safe request's statements run in a transaction (``SET LOCAL``)."""
    safe_requests.use_transaction(db.session())


def _close_session(_exc: BaseException | None) -> None:
    # Closing the session rolls its transaction back (a safe request's runs in autocommit:
    # nothing is sent). When PostgreSQL went away after the answer was made (a restart, a
    # terminated backend), that rollback raises, and the raise would escape the app and turn
    # a finished 200 or 201 into the server's bare 500. The connection is already
    # invalidated, so the pool drops it and nothing is left to undo.
    try:
        db.session.remove()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("database connection lost at the end of a request: %s", _cause(exc))
        db.session.registry().invalidate()  # closes without a rollback on the dead connection
        db.session.remove()


def _cause(exc: DBAPIError) -> str:
    return exc.orig.__class__.__name__ if exc.orig is not None else exc.__class__.__name__
