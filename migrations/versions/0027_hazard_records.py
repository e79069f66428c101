"""hazard records: a backdated finding's found_at, notice revisions (re-issued 整改通知书 keep their number, every
version kept) and a look-back's sample filters

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("found_at", engine.infra.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_hazards_found_at"), ["found_at"], unique=False)
    with op.batch_alter_table("rectification_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "rectification_notice_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("issued_at", engine.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("content", _JSON, nullable=False),
        sa.ForeignKeyConstraint(["issued_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["notice_id"], ["rectification_notices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "revision"),
    )
    with op.batch_alter_table("rectification_notice_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rectification_notice_revisions_notice_id"), ["notice_id"], unique=False)
    # Every notice served so far is its own first version.
    op.execute("INSERT INTO rectification_notice_revisions (notice_id, revision, deadline, issued_at, issued_by_id, "
               "content) SELECT id, 1, deadline, issued_at, issued_by_id, content FROM rectification_notices")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sample_filters", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("sample_filters")
    with op.batch_alter_table("rectification_notice_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rectification_notice_revisions_notice_id"))
    op.drop_table("rectification_notice_revisions")
    with op.batch_alter_table("rectification_notices", schema=None) as batch_op:
        batch_op.drop_column("revision")
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazards_found_at"))
        batch_op.drop_column("found_at")
