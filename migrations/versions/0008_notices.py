"""rectification notices (整改通知书) and their per-school yearly number counters

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_counters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("next_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["org_nodes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_id", "year"),
    )
    op.create_table(
        "rectification_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hazard_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=300), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("issued_at", engine.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                  nullable=False),
        sa.ForeignKeyConstraint(["hazard_id"], ["hazards.id"]),
        sa.ForeignKeyConstraint(["issued_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["org_nodes.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["org_nodes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hazard_id"),
        sa.UniqueConstraint("school_id", "year", "seq"),
    )
    with op.batch_alter_table("rectification_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rectification_notices_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rectification_notices_year"), ["year"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rectification_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rectification_notices_year"))
        batch_op.drop_index(batch_op.f("ix_rectification_notices_unit_id"))
    op.drop_table("rectification_notices")
    op.drop_table("notice_counters")
