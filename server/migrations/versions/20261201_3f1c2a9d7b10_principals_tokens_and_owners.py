"""principals, api tokens, and an owner for every project and tag

Existing projects and tags are given to a principal this migration creates
(``owner-of-existing-data``, not an admin, no tokens): nothing becomes visible to a new
principal by accident. Give them to someone else with ``flask-nix-stack principals ...``
or SQL; issue a token for it with ``flask-nix-stack tokens create``.

Downgrade drops principals, tokens and owners. Names unique per owner become unique again:
tags of the same name are merged (their tasks keep them), and projects of the same name get
their id appended, so no row is lost.

Revision ID: 3f1c2a9d7b10
Revises: 60582b85247d
Create Date: 2026-12-01 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3f1c2a9d7b10"
down_revision = "60582b85247d"
branch_labels = None
depends_on = None

LEGACY_OWNER = "owner-of-existing-data"


def upgrade() -> None:
    principals = op.create_table(
        "principals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("oidc_subject", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('user', 'service')", name=op.f("ck_principals_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
        sa.UniqueConstraint("name", name=op.f("uq_principals_name")),
        sa.UniqueConstraint("oidc_subject", name=op.f("uq_principals_oidc_subject")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_api_tokens_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_tokens_prefix")),
    )
    op.create_index(
        op.f("ix_api_tokens_principal_id"), "api_tokens", ["principal_id"], unique=False
    )

    conn = op.get_bind()
    has_rows = conn.scalar(
        sa.text("SELECT EXISTS (SELECT 1 FROM projects) OR EXISTS (SELECT 1 FROM tags)")
    )
    owner_id = None
    if has_rows:
        owner_id = conn.scalar(
            sa.insert(principals)
            .values(name=LEGACY_OWNER, kind="service")
            .returning(principals.c.id)
        )
    for table in ("projects", "tags"):
        op.add_column(table, sa.Column("owner_id", sa.Integer(), nullable=True))
        if owner_id is not None:
            conn.execute(sa.text(f"UPDATE {table} SET owner_id = :owner"), {"owner": owner_id})  # noqa: S608
        op.alter_column(table, "owner_id", nullable=False)
        op.create_foreign_key(
            op.f(f"fk_{table}_owner_id_principals"),
            table,
            "principals",
            ["owner_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        op.drop_constraint(op.f(f"uq_{table}_name"), table, type_="unique")
        op.create_unique_constraint(op.f(f"uq_{table}_owner_id"), table, ["owner_id", "name"])


def downgrade() -> None:
    conn = op.get_bind()
    # Tags: one row per name survives (the lowest id); tasks are moved onto it.
    conn.execute(
        sa.text(
            """
            WITH keep AS (SELECT name, min(id) AS id FROM tags GROUP BY name)
            INSERT INTO task_tags (task_id, tag_id)
            SELECT tt.task_id, keep.id FROM task_tags tt
            JOIN tags t ON t.id = tt.tag_id JOIN keep ON keep.name = t.name
            WHERE t.id <> keep.id
            ON CONFLICT DO NOTHING
            """
        )
    )
    conn.execute(sa.text("DELETE FROM tags t USING tags k WHERE k.name = t.name AND k.id < t.id"))
    # Projects: every name but the first of each gets its id appended.
    conn.execute(
        sa.text(
            """
            UPDATE projects p SET name = left(p.name, 190) || ' #' || p.id
            FROM projects k WHERE k.name = p.name AND k.id < p.id
            """
        )
    )
    for table in ("tags", "projects"):
        op.drop_constraint(op.f(f"uq_{table}_owner_id"), table, type_="unique")
        op.create_unique_constraint(op.f(f"uq_{table}_name"), table, ["name"])
        op.drop_constraint(op.f(f"fk_{table}_owner_id_principals"), table, type_="foreignkey")
        op.drop_column(table, "owner_id")
    op.drop_index(op.f("ix_api_tokens_principal_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("principals")
