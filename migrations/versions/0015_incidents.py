"""Incidents: run-time failures of a process step (script, condition, DMN, service task, timer, message)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from engine.infra.db import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("element_id", sa.String(length=100), nullable=True),
        sa.Column("element_name", sa.String(length=200), nullable=True),
        sa.Column("variable", sa.String(length=100), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("form_data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("failed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="ck_incidents_status"),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["human_tasks.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["process_messages.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org_nodes.id"]),
        sa.ForeignKeyConstraint(["submitted_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["resolved_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_instance_id", "incidents", ["instance_id"])
    op.create_index("ix_incidents_task_id", "incidents", ["task_id"])
    op.create_index("ix_incidents_org_id", "incidents", ["org_id"])
    op.create_index("ix_incidents_status_instance", "incidents", ["status", "instance_id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_status_instance", table_name="incidents")
    op.drop_index("ix_incidents_org_id", table_name="incidents")
    op.drop_index("ix_incidents_task_id", table_name="incidents")
    op.drop_index("ix_incidents_instance_id", table_name="incidents")
    op.drop_table("incidents")
