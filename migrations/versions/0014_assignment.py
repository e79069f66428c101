"""assignment that foreign diagrams can use: candidate users and groups, follow-up dates, starters, role maps

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from engine.infra.db import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role_map", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                          "postgresql"), nullable=True))
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_process_instances_started_by_id_users", "users", ["started_by_id"], ["id"])
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up_at", UTCDateTime(), nullable=True))
    op.create_table(
        "task_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("(user_id IS NOT NULL) OR (role IS NOT NULL AND org_id IS NOT NULL)",
                           name="ck_task_candidates_who"),
        sa.ForeignKeyConstraint(["task_id"], ["human_tasks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org_nodes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_candidates_task_id", "task_candidates", ["task_id"])
    op.create_index("ix_task_candidates_user", "task_candidates", ["user_id", "task_id"])
    op.create_index("ix_task_candidates_group", "task_candidates", ["role", "org_id", "task_id"])


def downgrade() -> None:
    op.drop_index("ix_task_candidates_group", table_name="task_candidates")
    op.drop_index("ix_task_candidates_user", table_name="task_candidates")
    op.drop_index("ix_task_candidates_task_id", table_name="task_candidates")
    op.drop_table("task_candidates")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_column("follow_up_at")
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.drop_constraint("fk_process_instances_started_by_id_users", type_="foreignkey")
        batch_op.drop_column("started_by_id")
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.drop_column("role_map")
