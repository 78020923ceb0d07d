"""task indexes for keyset pages

(project_id, id) and (status, id) replace the single-column indexes: a filtered page in id order
then reads only its own rows, and the per-project task counts stay index-only.

Revision ID: 3c9e1f7a2b64
Revises: 60582b85247d
Create Date: 2026-12-01 14:40:00
"""

from __future__ import annotations

from alembic import op

revision = "3c9e1f7a2b64"
down_revision = "60582b85247d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_project_id_id", "tasks", ["project_id", "id"], unique=False)
    op.create_index("ix_tasks_status_id", "tasks", ["status", "id"], unique=False)
    op.drop_index("ix_tasks_project_id", table_name="tasks")
    op.drop_index("ix_tasks_status", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_status", "tasks", ["status"], unique=False)
    op.create_index("ix_tasks_project_id", "tasks", ["project_id"], unique=False)
    op.drop_index("ix_tasks_status_id", table_name="tasks")
    op.drop_index("ix_tasks_project_id_id", table_name="tasks")
