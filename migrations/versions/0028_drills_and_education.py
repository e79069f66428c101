"""emergency drills and safety education (seed 004): drill records and photos, safety-education sessions, a unit's
headcount, and the semester start days of a semester schedule

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from engine.infra.db import JSONType, UTCDateTime

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("org_nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headcount", sa.Integer(), nullable=True))
    with op.batch_alter_table("inspection_schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("semester_starts", JSONType, nullable=True))
    op.create_table(
        "drill_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_nodes.id"), nullable=False),
        sa.Column("school_id", sa.Integer(), sa.ForeignKey("org_nodes.id"), nullable=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("process_instances.id"), nullable=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("human_tasks.id"), nullable=True),
        sa.Column("semester_key", sa.String(length=16), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=True),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("scenario", sa.String(length=200), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("evaluation", sa.String(length=16), nullable=True),
        sa.Column("evaluation_notes", sa.Text(), nullable=True),
        sa.Column("evaluated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("evaluated_at", UTCDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("instance_id", "unit_id", "sequence"),
    )
    for column in ("unit_id", "school_id", "instance_id", "semester_key", "held_on"):
        op.create_index(f"ix_drill_records_{column}", "drill_records", [column])
    op.create_table(
        "drill_photos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("drill_id", sa.Integer(), sa.ForeignKey("drill_records.id"), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_drill_photos_drill_id", "drill_photos", ["drill_id"])
    op.create_table(
        "safety_education",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_nodes.id"), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("class_hours", sa.Float(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_safety_education_unit_id", "safety_education", ["unit_id"])
    op.create_index("ix_safety_education_held_on", "safety_education", ["held_on"])


def downgrade() -> None:
    op.drop_table("safety_education")
    op.drop_table("drill_photos")
    op.drop_table("drill_records")
    with op.batch_alter_table("inspection_schedules", schema=None) as batch_op:
        batch_op.drop_column("semester_starts")
    with op.batch_alter_table("org_nodes", schema=None) as batch_op:
        batch_op.drop_column("headcount")
