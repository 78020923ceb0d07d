"""The app's text is UTF-8 in the database and on every connection
(server/infra/database_encoding.py), whatever the server's own defaults say."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.infra.database import db

from support.apps import build_app
from support.cli_runner import one_line_failure
from support.processes import app_env
from support.servers import Postgres
from support.settings import make_settings

# Outside Latin-1 too, and as what the API takes: a project name.
NAME = "Ünïcödé 日本語 ✓"


def test_db_upgrade_refuses_a_database_not_in_utf8(pg: Postgres, redis_url: str) -> None:
    """A cluster made without a locale (the Nix build's test hook, a bare container) is
    SQL_ASCII: bytes unchecked, lengths in bytes. Refused in one line, before anything is made."""
    url = pg.create_database("fns_sql_ascii", encoding="SQL_ASCII")
    line = one_line_failure("db", "upgrade", env=app_env(url, redis_url))
    assert "APP_DATABASE_URL" in line
    assert "SQL_ASCII" in line
    conn = pg.connect("fns_sql_ascii" + pg.suffix)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()


@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII"])
def test_connections_speak_utf8_whatever_the_database_sets(
    pg: Postgres, redis_url: str, encoding: str
) -> None:
    """A database (or role) may set its own client_encoding, and a SQL_ASCII one makes it
    ASCII: psycopg2 then cannot send what the API accepts. The app asks for UTF8 itself."""
    name = "fns_client_encoding"
    url = pg.create_database(name)
    pg.alter_database(name, f"SET client_encoding = '{encoding}'")
    app = build_app(make_settings(url, redis_url))
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                assert connection.exec_driver_sql("SHOW client_encoding").scalar() == "UTF8"
                assert connection.scalar(text("SELECT :name"), {"name": NAME}) == NAME
        finally:
            db.engine.dispose()
