"""Read models of drills and safety education: per unit and semester, drills held against two, class-hours against
eight, and how many of the unit's people took part (seed 004: 全员参加).

`drills_by_unit` (figures) and `semester_drills` (the drill records each unit owed a semester's schedule, named
one by one) are the read functions other subjects (the annual assessment) use; the semester page and API use
`semester_table`, built on the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.drills.models import DrillPhoto, DrillRecord, SafetyEducation
from engine.infra.errors import InvalidFormData, NotFound
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.org.scope import can_view_org, orgs_under, scope_of
from engine.process.calendar import CalendarBook
from engine.process.models import HumanTask
from engine.schedules.cadence import Recurrence
from engine.schedules.models import InspectionOccurrence, InspectionSchedule

REQUIRED_DRILLS = 2  # 每学期至少组织2次应急演练
REQUIRED_HOURS = 8.0  # 每学期专题教育不少于8课时
PLAN_TASK = "plan_drill"  # bpmn/emergency_drill.bpmn: every unit a semester's occurrence targets gets one at once


def _rate(participants: int, headcount: int | None, sessions: int) -> float | None:
    """Average share of the headcount that took part, at most 1 (None without a headcount or a session)."""
    if not headcount or not sessions:
        return None
    return round(min(participants / (headcount * sessions), 1.0), 3)


def drills_by_unit(session: Session, unit_ids, start: date, end: date) -> dict[int, dict]:
    """Per unit, drills held and safety education given between `start` and `end` (inclusive), in three queries:
    {unit_id: {drills_held, drill_participants, drill_participation, evaluated, failed, class_hours,
    education_sessions, education_participation, headcount}}. Participation is the average share of the unit's
    headcount that took part (None when the headcount is unknown)."""
    unit_ids = sorted({int(u) for u in unit_ids})
    if not unit_ids:
        return {}
    headcounts = dict(session.execute(select(OrgNode.id, OrgNode.headcount).where(OrgNode.id.in_(unit_ids))).all())
    drills = {row.unit_id: row for row in session.execute(
        select(DrillRecord.unit_id, func.count(DrillRecord.id).label("held"),
               func.coalesce(func.sum(DrillRecord.participants), 0).label("participants"),
               func.count(DrillRecord.evaluation).label("evaluated"),
               func.count(case((DrillRecord.evaluation == "fail", 1))).label("failed"))
        .where(DrillRecord.unit_id.in_(unit_ids), DrillRecord.held_on >= start, DrillRecord.held_on <= end)
        .group_by(DrillRecord.unit_id))}
    education = {row.unit_id: row for row in session.execute(
        select(SafetyEducation.unit_id, func.count(SafetyEducation.id).label("sessions"),
               func.coalesce(func.sum(SafetyEducation.class_hours), 0).label("hours"),
               func.coalesce(func.sum(SafetyEducation.participants), 0).label("participants"))
        .where(SafetyEducation.unit_id.in_(unit_ids), SafetyEducation.held_on >= start, SafetyEducation.held_on <= end)
        .group_by(SafetyEducation.unit_id))}
    result = {}
    for unit_id in unit_ids:
        d, e, headcount = drills.get(unit_id), education.get(unit_id), headcounts.get(unit_id)
        held, people = (int(d.held), int(d.participants)) if d else (0, 0)
        sessions, hours, learners = (int(e.sessions), float(e.hours), int(e.participants)) if e else (0, 0.0, 0)
        result[unit_id] = {
            "headcount": headcount, "drills_held": held, "drill_participants": people,
            "drill_participation": _rate(people, headcount, held),
            "evaluated": int(d.evaluated) if d else 0, "failed": int(d.failed) if d else 0,
            "class_hours": round(hours, 1), "education_sessions": sessions,
            "education_participation": _rate(learners, headcount, sessions),
        }
    return result


@dataclass(frozen=True)
class OwedDrills:
    """One unit's drills for one semester occurrence of a drill schedule: what it held there, in order."""

    unit_id: int
    occurrence: InspectionOccurrence
    held: list[DrillRecord]

    @property
    def missing(self) -> int:
        return max(REQUIRED_DRILLS - len(self.held), 0)


def semester_drills(session: Session, school_id: int, unit_ids, due_from: datetime, due_until: datetime
                    ) -> dict[int, list[OwedDrills]]:
    """Per unit, the semester occurrences of the school's drill schedules due in [due_from, due_until) that gave the
    unit its drill tasks, each with the drill records the unit kept in that occurrence (three queries)."""
    unit_ids = sorted({int(u) for u in unit_ids})
    out: dict[int, list[OwedDrills]] = {u: [] for u in unit_ids}
    occurrences = {o.instance_id: o for o in session.scalars(
        select(InspectionOccurrence).join(InspectionSchedule, InspectionSchedule.id == InspectionOccurrence.schedule_id)
        .where(InspectionSchedule.org_id == school_id, InspectionSchedule.kind == "drill",
               InspectionOccurrence.instance_id.is_not(None), InspectionOccurrence.due_at >= due_from,
               InspectionOccurrence.due_at < due_until)
        .order_by(InspectionOccurrence.due_at, InspectionOccurrence.id))}
    if not unit_ids or not occurrences:
        return out
    owed = {(i, o) for i, o in session.execute(select(HumanTask.instance_id, HumanTask.candidate_org_id).where(
        HumanTask.instance_id.in_(occurrences), HumanTask.bpmn_id == PLAN_TASK,
        HumanTask.candidate_org_id.in_(unit_ids)))}
    held: dict[tuple[int, int], list[DrillRecord]] = {}
    for record in session.scalars(select(DrillRecord).where(
            DrillRecord.instance_id.in_(occurrences), DrillRecord.unit_id.in_(unit_ids))
            .order_by(DrillRecord.sequence, DrillRecord.id)):
        held.setdefault((record.instance_id, record.unit_id), []).append(record)
    for instance_id, occurrence in occurrences.items():
        for unit_id in unit_ids:
            if (instance_id, unit_id) in owed:
                out[unit_id].append(OwedDrills(unit_id, occurrence, held.get((instance_id, unit_id), [])))
    return out


@dataclass(frozen=True)
class Semester:
    """One semester of a school: its key (2026-S2), first and last day."""

    key: str
    first_day: date
    last_day: date


def semester_of(session: Session, school_id: int, when: date | None = None, key: str | None = None) -> Semester:
    """The school's semester by key, or the one containing `when`, under the start days of its drill schedule (the
    default 03-01 and 09-01 without one); InvalidFormData for a malformed key."""
    starts = session.scalar(select(InspectionSchedule.semester_starts).where(
        InspectionSchedule.org_id == school_id, InspectionSchedule.cadence == "semester")
        .order_by(InspectionSchedule.id).limit(1))
    recurrence = Recurrence("semester", CalendarBook(session).for_org(school_id), semester_starts=starts)
    try:
        period = recurrence.by_key(key) if key else recurrence.containing(when)
    except ValueError as exc:
        raise InvalidFormData(str(exc), [{"field": "semester", "message": str(exc)}]) from None
    return Semester(period.key, period.first_day, recurrence.last_day(period.first_day))


@dataclass(frozen=True)
class UnitRow:
    """One unit's line of the semester table."""

    unit_id: int
    unit_name: str
    headcount: int | None
    drills_held: int
    drills_required: int
    drill_participation: float | None
    class_hours: float
    hours_required: float
    education_participation: float | None

    @property
    def complete(self) -> bool:
        return self.drills_held >= self.drills_required and self.class_hours >= self.hours_required


def visible_schools(session: Session, user: User) -> list[OrgNode]:
    """The schools whose units the user may see: those in scope and the user's own (a unit's staff), in tree order."""
    scope = scope_of(session, user)
    schools = list(session.scalars(select(OrgNode).where(
        OrgNode.kind == "school", OrgNode.id.in_(orgs_under(scope.paths))))) if scope.paths else []
    own = accounts.nearest(session, user.org, "school") if user.org is not None else None
    if own is not None and own.id not in {s.id for s in schools}:
        schools.append(own)
    return sorted(schools, key=lambda s: s.path)


def school_for(session: Session, user: User, school_id: int | None) -> OrgNode:
    """The chosen school, or the user's own school (else the first they see); NotFound for any other."""
    schools = visible_schools(session, user)
    if school_id is None:
        own = [s for s in schools if user.org is not None and user.org.path.startswith(s.path)]
        if not (own or schools):
            raise NotFound("no school in your scope")
        return (own or schools)[0]
    for school in schools:
        if school.id == school_id:
            return school
    raise NotFound(f"school {school_id} does not exist")


def semester_table(session: Session, user: User, school: OrgNode, semester: Semester) -> list[UnitRow]:
    """The school's units in the user's scope with their drills and class-hours of the semester."""
    scope = scope_of(session, user)
    units = list(session.scalars(select(OrgNode).where(
        OrgNode.kind == "unit", OrgNode.active.is_(True), OrgNode.path.startswith(school.path),
        OrgNode.id.in_(orgs_under(scope.paths))).order_by(OrgNode.path))) if scope.paths else []
    figures = drills_by_unit(session, [u.id for u in units], semester.first_day, semester.last_day)
    return [UnitRow(u.id, u.name, u.headcount, figures[u.id]["drills_held"], REQUIRED_DRILLS,
                    figures[u.id]["drill_participation"], figures[u.id]["class_hours"], REQUIRED_HOURS,
                    figures[u.id]["education_participation"]) for u in units]


def today(clock) -> date:
    """Today in China time."""
    return clock.now().astimezone(CHINA).date()


def unit_semester(session: Session, user: User, unit_id: int, when: date, key: str | None = None):
    """(unit, semester, drills with their photos, education sessions) of one unit in the semester `key` (default the
    one containing `when`) of its school; NotFound outside the user's scope."""
    unit = session.get(OrgNode, unit_id)
    if unit is None or unit.kind not in ("unit", "grid") or not can_view_org(session, user, unit.id):
        raise NotFound(f"unit {unit_id} does not exist")
    school = accounts.nearest(session, unit, "school")
    semester = semester_of(session, school.id if school else unit.id, when, key)
    drills = list(session.scalars(select(DrillRecord).where(
        DrillRecord.unit_id == unit.id, DrillRecord.held_on >= semester.first_day,
        DrillRecord.held_on <= semester.last_day).order_by(DrillRecord.held_on, DrillRecord.id)))
    photos: dict[int, list[DrillPhoto]] = {}
    if drills:
        for photo in session.scalars(select(DrillPhoto).where(DrillPhoto.drill_id.in_([d.id for d in drills]))
                                     .order_by(DrillPhoto.id)):
            photos.setdefault(photo.drill_id, []).append(photo)
    education = list(session.scalars(select(SafetyEducation).where(
        SafetyEducation.unit_id == unit.id, SafetyEducation.held_on >= semester.first_day,
        SafetyEducation.held_on <= semester.last_day).order_by(SafetyEducation.held_on, SafetyEducation.id)))
    return unit, semester, [(d, photos.get(d.id, [])) for d in drills], education

