"""The database must store text as UTF-8, and every connection speaks UTF-8 to it.

PostgreSQL takes a new cluster's encoding from initdb's locale: without one (LANG unset, as in
the Nix build sandbox, a bare container or a systemd unit without a locale) that is SQL_ASCII,
which stores bytes unchecked and counts VARCHAR lengths in bytes, and a client then speaks
ASCII: psycopg2 could not even send "é". Every connection asks for UTF8 (``CLIENT_ENCODING``,
also what a role's or database's own client_encoding setting would otherwise override), and
`db upgrade` refuses a database in any other encoding before it creates anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

# libpq's connection parameter (a startup parameter PgBouncer passes on).
CLIENT_ENCODING = "UTF8"


class UnsupportedDatabase(Exception):
    """The database cannot hold the app's data as it is: what to do is the message."""


def require_utf8(connection: Connection) -> None:
    """Raise UnsupportedDatabase unless the database behind ``connection`` is UTF8."""
    encoding = connection.exec_driver_sql("SHOW server_encoding").scalar()
    if encoding != "UTF8":
        raise UnsupportedDatabase(
            f"APP_DATABASE_URL names a database encoded {encoding}; the app stores text as"
            " UTF-8: create it with ENCODING 'UTF8' (CREATE DATABASE ... ENCODING 'UTF8'"
            " TEMPLATE template0, or a cluster from initdb --encoding=UTF8)"
        )
