"""The PostgreSQL the suite runs on is the one asked for: the first initdb found
(support/servers.py), or with FNS_POSTGRES_VERSION, that version (`script/test
--nixpkgs-versions` sets it to nixpkgs' PostgreSQL, which the Nix build and the NixOS module
run; Debian 12 has 15). A PATH that put another one first would pass silently otherwise."""

from __future__ import annotations

import os

from support.servers import Postgres, postgres_version


def release(text: str) -> str:
    """The release, "17.9", of "postgres (PostgreSQL) 17.9" or "17.9 (Debian 17.9-1)"."""
    return next(word for word in text.split() if word[:1].isdigit())


def test_the_server_is_the_postgresql_asked_for(pg: Postgres) -> None:
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            (running,) = cur.fetchone() or ("",)
    finally:
        conn.close()
    expected = os.environ.get("FNS_POSTGRES_VERSION") or release(postgres_version())
    assert release(running) == expected
