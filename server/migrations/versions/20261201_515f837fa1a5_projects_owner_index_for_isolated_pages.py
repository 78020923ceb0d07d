"""projects owner index for isolated pages

(owner_id, id) on projects: row isolation limits every read to the acting owner's projects
(server/auth/isolation.py), so an owner's page of projects walks this index in id order
rather than every owner's projects, and the owner condition on tasks (project_id among the
owner's projects) is answered from the index alone.

Revision ID: 515f837fa1a5
Revises: 3c9e1f7a2b64
Create Date: 2026-12-01 17:20:00
"""

from __future__ import annotations

from alembic import op

revision = "515f837fa1a5"
down_revision = "3c9e1f7a2b64"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_projects_owner_id_id", "projects", ["owner_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_projects_owner_id_id", table_name="projects")
