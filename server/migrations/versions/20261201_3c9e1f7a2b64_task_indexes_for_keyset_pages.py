"""task indexes for keyset pages

(project_id, id) and (status, id) on tasks and (tag_id, task_id) on task_tags replace the
single-column indexes: a filtered page in id order then reads only its own rows, and the
per-project task counts stay index-only.

Revision ID: 3c9e1f7a2b64
Revises: 3f1c2a9d7b10
Create Date: 2026-12-01 14:40:00
"""

from __future__ import annotations

from alembic import op

revision = "3c9e1f7a2b64"
down_revision = "3f1c2a9d7b10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_project_id_id", "tasks", ["project_id", "id"], unique=False)
    op.create_index("ix_tasks_status_id", "tasks", ["status", "id"], unique=False)
    op.drop_index("ix_tasks_project_id", table_name="tasks")
    op.drop_index("ix_tasks_status", table_name="tasks")
    op.create_index("ix_task_tags_tag_id_task_id", "task_tags", ["tag_id", "task_id"])
    op.drop_index("ix_task_tags_tag_id", table_name="task_tags")


def downgrade() -> None:
    op.create_index("ix_task_tags_tag_id", "task_tags", ["tag_id"], unique=False)
    op.drop_index("ix_task_tags_tag_id_task_id", table_name="task_tags")
    op.create_index("ix_tasks_status", "tasks", ["status"], unique=False)
    op.create_index("ix_tasks_project_id", "tasks", ["project_id"], unique=False)
    op.drop_index("ix_tasks_status_id", table_name="tasks")
    op.drop_index("ix_tasks_project_id_id", table_name="tasks")
