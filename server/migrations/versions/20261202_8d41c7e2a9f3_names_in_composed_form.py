"""names in composed form

Project names and task titles are stored in Unicode's composed form (NFC) from now on
(server/schemas/common.py), and searches are normalised the same way: a name stored
decomposed before ("Cafe" + U+0301) would no longer be found. This rewrites those.

Composed text can be longer than sent (U+0958 is two code points composed), at most 3 times
(UAX #15): the columns grow from 200 characters to 600, so every name the API takes (200
characters as sent) is stored whole. A larger varchar is a change of the catalog only in
PostgreSQL: no table rewrite, no index rebuild.

A project whose composed name its owner already has (both spellings were allowed until now)
becomes "<name> #<id>", as the owners migration's way down names such duplicates.

Down again, the columns are 200 characters once more: longer text is cut to 200. Which names
were decomposed is not kept, so they stay composed.

Revision ID: 8d41c7e2a9f3
Revises: 515f837fa1a5
Create Date: 2026-12-02 22:00:00
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "8d41c7e2a9f3"
down_revision = "515f837fa1a5"
branch_labels = None
depends_on = None

MAX_LENGTH = 600  # server/models/base.py's NAME_LENGTH, as this revision made it
COLUMNS = (("projects", "name"), ("tasks", "title"))


def upgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(MAX_LENGTH), existing_type=sa.String(200))
    conn = op.get_bind()
    for id_, title in _decomposed(conn, "tasks", "title"):
        conn.execute(sa.text("UPDATE tasks SET title = :t WHERE id = :i"), {"t": title, "i": id_})
    taken = sa.text(
        "SELECT 1 FROM projects p JOIN projects q ON q.owner_id = p.owner_id"
        " WHERE p.id = :i AND q.name = :n"
    )
    for id_, composed in _decomposed(conn, "projects", "name"):
        for name in (composed, f"{composed} #{id_}"):
            if (
                len(name) <= MAX_LENGTH
                and conn.execute(taken, {"i": id_, "n": name}).first() is None
            ):
                conn.execute(
                    sa.text("UPDATE projects SET name = :n WHERE id = :i"), {"n": name, "i": id_}
                )
                break


def _decomposed(conn: sa.Connection, table: str, column: str) -> list[tuple[int, str]]:
    """(id, composed text) of each row whose text is not composed."""
    # Only text with a character outside ASCII (more bytes than characters) can be other than
    # composed: the scan skips the rest. Streamed (a server-side cursor): a table of millions of
    # rows is read in batches, and only the rows that change are kept.
    scan = sa.text(
        f"SELECT id, {column} FROM {table}"  # noqa: S608 (names from this module)
        f" WHERE octet_length({column}) <> char_length({column}) ORDER BY id"
    ).execution_options(stream_results=True, max_row_buffer=1000)  # this statement's only
    rows = conn.execute(scan)
    return [
        (id_, composed)
        for id_, text in rows
        if (composed := unicodedata.normalize("NFC", text)) != text
    ]


def downgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(200),
            existing_type=sa.String(MAX_LENGTH),
            postgresql_using=f"left({column}, 200)",
        )
