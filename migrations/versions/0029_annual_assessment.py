"""annual assessment: accident records, schools' scoring schemes, yearly assessments with their frozen sheets

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _when():
    return engine.infra.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["org_nodes.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["org_nodes.id"]),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("accidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accidents_school_id"), ["school_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_accidents_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_accidents_occurred_on"), ["occurred_on"], unique=False)
    op.create_table(
        "assessment_schemes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("scheme", _json(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["org_nodes.id"]),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_id"),
    )
    op.create_table(
        "annual_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sheet", _json(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", _when(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column("return_reason", sa.Text(), nullable=True),
        sa.Column("returned_at", _when(), nullable=True),
        sa.Column("signed_at", _when(), nullable=True),
        sa.Column("signed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["org_nodes.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"]),
        sa.ForeignKeyConstraint(["submitted_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["signed_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_id", "year"),
    )
    with op.batch_alter_table("annual_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annual_assessments_school_id"), ["school_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_annual_assessments_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_annual_assessments_instance_id"), ["instance_id"], unique=False)


def downgrade() -> None:
    op.drop_table("annual_assessments")
    op.drop_table("assessment_schemes")
    op.drop_table("accidents")
