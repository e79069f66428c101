"""Rectification notices (整改通知书): one numbered notice per hazard, and the per-school yearly number counter."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import JSONType, UTCDateTime
from .core import Base, Hazard, OrgNode


class NoticeCounter(Base):
    """The next free notice number of one school in one year; its row is locked while a number is taken."""

    __tablename__ = "notice_counters"
    __table_args__ = (UniqueConstraint("school_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    year: Mapped[int] = mapped_column(Integer)
    next_seq: Mapped[int] = mapped_column(Integer, default=1)


class RectificationNotice(Base):
    """A 隐患整改通知书 as issued: its number, addressee, deadline and a snapshot of what it says."""

    __tablename__ = "rectification_notices"
    __table_args__ = (
        # The backstop behind the counter: a number is never given twice.
        UniqueConstraint("school_id", "year", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    year: Mapped[int] = mapped_column(Integer, index=True)  # China-time year of issuing
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(300))  # e.g. "某职业学院〔2026〕整改第 003 号"
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)  # to whom
    deadline: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What the notice says, frozen when issued: later edits of the hazard do not rewrite a served notice.
    content: Mapped[dict] = mapped_column(JSONType, default=dict)

    hazard: Mapped[Hazard] = relationship()
    unit: Mapped[OrgNode] = relationship(foreign_keys=[unit_id])
    school: Mapped[OrgNode] = relationship(foreign_keys=[school_id])
