"""回头看 look-back results: one row per sampled hazard re-inspected in a look-back campaign."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import JSONType, UTCDateTime
from .core import Base, Hazard

OUTCOMES = ("holds", "reopened")  # 整改到位 | 反弹 (found open again)


class LookBackResult(Base):
    """A sampled hazard's re-inspection: holds or reopened, by whom, when, with what evidence."""

    __tablename__ = "look_back_results"
    # Each sampled hazard is re-inspected once per look-back; the constraint also settles two people racing.
    __table_args__ = (UniqueConstraint("campaign_id", "hazard_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list] = mapped_column(JSONType, default=list)  # attachment ids
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)  # the hazard's count after this result
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)  # reopened: new run
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    hazard: Mapped[Hazard] = relationship()
