"""Statistics: the 隐患问题统计表 snapshots stored on a campaign's report dates (报送日期)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.infra.db import Base, JSONType, UTCDateTime


class StatisticsReport(Base):
    """The figures of one campaign as of one report date, frozen when generated; one row per date."""

    __tablename__ = "statistics_reports"
    # Also the index for "a campaign's snapshots, by date" (campaign_id leads), and the guard that makes two
    # report jobs at once store one snapshot.
    __table_args__ = (UniqueConstraint("campaign_id", "report_date", name="uq_statistics_reports_campaign_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    report_date: Mapped[date] = mapped_column(Date)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)  # 18:00 China time on report_date
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    figures: Mapped[dict] = mapped_column(JSONType, default=dict)  # engine.statistics.compute(), as stored
