"""statistics: the 隐患问题统计表 snapshots of campaigns' report dates, and campaigns.next_report_date

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
from datetime import date

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statistics_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("as_of", engine.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("generated_at", engine.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                  nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "report_date", name="uq_statistics_reports_campaign_date"),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_report_date", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_campaigns_next_report_date"), ["next_report_date"], unique=False)
    _schedule_existing_campaigns()


def _schedule_existing_campaigns() -> None:
    """Campaigns created before this revision get their first report date (no snapshot exists for any yet)."""
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    campaigns = sa.table("campaigns", sa.column("id", sa.Integer()), sa.column("stages", json),
                         sa.column("next_report_date", sa.Date()))
    conn = op.get_bind()
    for campaign_id, stages in conn.execute(sa.select(campaigns.c.id, campaigns.c.stages)).all():
        dates = []
        for value in (stages or {}).get("report_dates") or []:
            try:
                dates.append(date.fromisoformat(str(value)[:10]))
            except ValueError:
                continue
        if dates:
            conn.execute(sa.update(campaigns).where(campaigns.c.id == campaign_id)
                         .values(next_report_date=min(dates)))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_next_report_date"))
        batch_op.drop_column("next_report_date")
    op.drop_table("statistics_reports")
