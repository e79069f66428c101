"""Deadlines: per-organisation working-day calendar overrides and the escalation ladder a task has climbed."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UTCDateTime
from .core import Base

CALENDAR_DAY_KINDS = ("holiday", "workday")


class CalendarDay(Base):
    """An organisation's own holiday or make-up working day (调休), overriding the shipped national calendar."""

    __tablename__ = "calendar_days"
    __table_args__ = (UniqueConstraint("org_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")


class TaskEscalation(Base):
    """One level of the escalation ladder that received an overdue task (its "escalated to me" view)."""

    __tablename__ = "task_escalations"
    __table_args__ = (
        UniqueConstraint("task_id", "rung"),
        Index("ix_task_escalations_target", "target_role", "target_org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    # unit_head, security_office, leader or supervisor; each rung receives a task once
    rung: Mapped[str] = mapped_column(String(32))
    target_role: Mapped[str | None] = mapped_column(String(32))
    target_org_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
