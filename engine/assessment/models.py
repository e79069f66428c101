"""Tables of the annual assessment: accident records, each school's scoring scheme, and the yearly assessments."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.infra.db import Base, JSONType, UTCDateTime

ASSESSMENT_STATUSES = ("submitted", "returned", "signed")


class Accident(Base):
    """A safety accident (安全责任事故) of a unit, recorded by the security office: an 一票否决 condition."""

    __tablename__ = "accidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    occurred_on: Mapped[date] = mapped_column(Date, index=True)
    description: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssessmentScheme(Base):
    """A school's scoring scheme (items, weights, data sources, pass mark, 一票否决 conditions); none: the default."""

    __tablename__ = "assessment_schemes"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), unique=True)
    scheme: Mapped[dict] = mapped_column(JSONType, default=dict)  # engine.assessment.scheme.validate()d
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class AnnualAssessment(Base):
    """One school's assessment of one year: the score sheet frozen at submission, and its sign-off process."""

    __tablename__ = "annual_assessments"
    __table_args__ = (UniqueConstraint("school_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True, default="submitted")
    sheet: Mapped[dict] = mapped_column(JSONType, default=dict)  # engine.assessment.sheet.compute(), frozen
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    return_reason: Mapped[str | None] = mapped_column(Text)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
