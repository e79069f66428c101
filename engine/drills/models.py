"""Drill records (one per drill a unit held, from the emergency_drill process), their photos, and safety-education
sessions."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.infra.db import Base, UTCDateTime
from engine.org.models import OrgNode, User

EVALUATIONS = ("excellent", "good", "pass", "fail")
EVALUATION_NAMES = dict(zip(EVALUATIONS, ("优秀", "良好", "合格", "不合格")))  # as bpmn/forms/evaluate_drill.json


class DrillRecord(Base):
    """One emergency drill a unit held: its plan, what happened, who took part, and the security office's evaluation."""

    __tablename__ = "drill_records"
    # One record per drill of a unit in one semester's process instance (a retried completion cannot add a second).
    __table_args__ = (UniqueConstraint("instance_id", "unit_id", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"))
    semester_key: Mapped[str | None] = mapped_column(String(16), index=True)  # the schedule's period, e.g. 2026-S2
    sequence: Mapped[int] = mapped_column(Integer)  # 1st, 2nd ... drill of the unit in the instance
    planned_on: Mapped[date | None] = mapped_column(Date)
    held_on: Mapped[date] = mapped_column(Date, index=True)
    scenario: Mapped[str] = mapped_column(String(200))
    participants: Mapped[int] = mapped_column(Integer)
    headcount: Mapped[int | None] = mapped_column(Integer)  # the unit's headcount when the drill was recorded
    summary: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    evaluation: Mapped[str | None] = mapped_column(String(16))  # one of EVALUATIONS
    evaluation_notes: Mapped[str | None] = mapped_column(Text)
    evaluated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[OrgNode] = relationship(foreign_keys=[unit_id])


class DrillPhoto(Base):
    """A photo of a drill; the bytes live in the evidence store under `storage_key`, checked like hazard evidence."""

    __tablename__ = "drill_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drill_records.id"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SafetyEducation(Base):
    """One safety-education session (专题教育) of a unit: date, topic, class-hours and participants."""

    __tablename__ = "safety_education"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date, index=True)
    topic: Mapped[str] = mapped_column(String(200))
    class_hours: Mapped[float] = mapped_column(Float)
    participants: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    recorded_by: Mapped[User] = relationship()
