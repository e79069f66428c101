"""schedules: recurring inspections (inspection_schedules) and their occurrences (inspection_occurrences)

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inspection_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                  nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("window", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", engine.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("created_at", engine.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["org_nodes.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["checklist_templates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "source"),
    )
    with op.batch_alter_table("inspection_schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspection_schedules_next_run_at"), ["next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_inspection_schedules_org_id"), ["org_id"], unique=False)
    op.create_table(
        "inspection_occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("period_start", engine.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", engine.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", engine.infra.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"]),
        sa.ForeignKeyConstraint(["schedule_id"], ["inspection_schedules.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "period_key"),
    )
    with op.batch_alter_table("inspection_occurrences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspection_occurrences_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inspection_occurrences_instance_id"), ["instance_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inspection_occurrences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_occurrences_instance_id"))
        batch_op.drop_index(batch_op.f("ix_inspection_occurrences_campaign_id"))
    op.drop_table("inspection_occurrences")
    with op.batch_alter_table("inspection_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_schedules_org_id"))
        batch_op.drop_index(batch_op.f("ix_inspection_schedules_next_run_at"))
    op.drop_table("inspection_schedules")
