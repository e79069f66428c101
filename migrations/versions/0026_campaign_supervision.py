"""campaigns: who supervises (campaigns.supervised_by) and the 督查报告 per supervised unit (supervision_reports)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from engine.infra.db import JSONType, UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supervised_by", sa.String(16), nullable=False, server_default="bureau"))
    op.create_table(
        "supervision_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org_nodes.id"), nullable=False),
        sa.Column("supervisor_org_id", sa.Integer(), sa.ForeignKey("org_nodes.id"), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("participants", JSONType, nullable=False),
        sa.Column("sampled", sa.Text(), nullable=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("human_tasks.id"), nullable=True, unique=True),
        sa.Column("by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_supervision_reports_campaign_id", "supervision_reports", ["campaign_id"])
    op.create_index("ix_supervision_reports_supervisor_org_id", "supervision_reports", ["supervisor_org_id"])
    op.create_index("ix_supervision_reports_at", "supervision_reports", ["at"])
    op.create_index("ix_supervision_reports_unit_at", "supervision_reports", ["unit_id", "at"])


def downgrade() -> None:
    op.drop_table("supervision_reports")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("supervised_by")
