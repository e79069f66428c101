"""Recurring inspections (seed 004): schedules per school and the occurrences each period started or missed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.infra.db import Base, JSONType, UTCDateTime
from engine.org.models import OrgNode

CADENCES = ("daily", "weekly", "monthly", "quarterly", "semester")
# patrol: bpmn/patrol.bpmn; campaign: a 专项整治; drill: bpmn/emergency_drill.bpmn (one semester's drills per unit).
SCHEDULE_KINDS = ("patrol", "campaign", "drill")
# Stored statuses; "done" and "overdue" are read from the started instance or campaign (schedules.py).
OCCURRENCE_STATUSES = ("open", "missed", "failed")


class InspectionSchedule(Base):
    """A recurring inspection of one school: cadence, what each occurrence starts, for whom, and when it runs next."""

    __tablename__ = "inspection_schedules"
    __table_args__ = (UniqueConstraint("org_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)  # the school
    title: Mapped[str] = mapped_column(String(200))
    cadence: Mapped[str] = mapped_column(String(16))
    weekday: Mapped[int | None] = mapped_column(Integer)  # weekly: ISO weekday 1 (Mon) .. 7 (Sun)
    day: Mapped[int | None] = mapped_column(Integer)  # monthly/quarterly: day 1..28; None = first working day
    # semester: the school's semester start days ["03-01", "09-01"]; None = the default (cadence.SEMESTER_STARTS)
    semester_starts: Mapped[list | None] = mapped_column(JSONType)
    kind: Mapped[str] = mapped_column(String(16))
    # {"role": lane role, "all_units": bool, "units": [{"org_id": id, "sites": [name, ...]}]}
    target: Mapped[dict] = mapped_column(JSONType, default=dict)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("checklist_templates.id"))  # campaign kind
    window: Mapped[str] = mapped_column(String(32))  # ISO-8601 duration an occurrence stays open
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The next occurrence's start; None while paused. The sweep reads only rows with next_run_at <= now.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    source: Mapped[str | None] = mapped_column(String(100))  # e.g. "seed004:key_sites" (installs once per school)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    org: Mapped[OrgNode] = relationship()


class InspectionOccurrence(Base):
    """One period of a schedule (2026-11-23, 2026-W48, 2026-11, 2026-Q4): started once, or recorded as missed."""

    __tablename__ = "inspection_occurrences"
    # The unique key makes starting an occurrence idempotent; keys of one schedule sort in time order.
    __table_args__ = (UniqueConstraint("schedule_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("inspection_schedules.id"))
    period_key: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)  # when the period's occurrence was due to start
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str | None] = mapped_column(Text)  # why it was missed or failed

    schedule: Mapped[InspectionSchedule] = relationship()
