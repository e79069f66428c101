"""An organisation's own calendar days (a sports day off, a make-up working day): add, remove, list; audited.

The working-day arithmetic is in engine/calendar.py. A day set here applies to the organisation and everything
below it, to due times worked out from now on and to the escalation steps the sweep plans next; due times already
set on open tasks do not move.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import extract, select
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, NotFound
from engine.org.models import OrgNode
from engine.process.calendar import set_calendar_day
from engine.process.events import record_event
from engine.process.models import CALENDAR_DAY_KINDS, CalendarDay


@dataclass(frozen=True)
class AppliedDay:
    """One calendar day row that applies to an organisation, and whether a nearer organisation's row overrides it."""

    day: date
    kind: str
    name: str
    org_id: int
    org_name: str
    own: bool
    overridden: bool


def _org(s: Session, org_id: int) -> OrgNode:
    org = s.get(OrgNode, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} does not exist")
    return org


def add_calendar_day(services, org_id: int, day: date, kind: str, name: str = "",
                     actor_id: int | None = None) -> CalendarDay:
    """Declare (or change) one organisation's holiday or make-up working day (调休)."""
    if kind not in CALENDAR_DAY_KINDS:
        raise InvalidFormData(f"unknown calendar day kind {kind!r}",
                              [{"field": "kind", "message": f"类型须为 {', '.join(CALENDAR_DAY_KINDS)} 之一"}])
    with services.uow() as uow:
        s = uow.session
        _org(s, org_id)
        row = set_calendar_day(s, org_id, day, kind, (name or "").strip()[:100])
        s.flush()
        record_event(s, services.clock.now(), "CalendarDaySet", actor_id, org_id=org_id, day=day.isoformat(),
                     day_kind=kind, name=row.name)
        uow.commit()
        return row


def remove_calendar_day(services, org_id: int, day: date, actor_id: int | None = None) -> None:
    """Drop one organisation's own entry for a day; the national calendar (or an ancestor's entry) applies again."""
    with services.uow() as uow:
        s = uow.session
        row = s.scalars(select(CalendarDay).where(CalendarDay.org_id == org_id, CalendarDay.day == day)).first()
        if row is None:
            raise NotFound(f"organisation {org_id} has no calendar entry on {day.isoformat()}")
        record_event(s, services.clock.now(), "CalendarDayRemoved", actor_id, org_id=org_id, day=day.isoformat(),
                     day_kind=row.kind, name=row.name)
        s.delete(row)
        uow.commit()


def applied_days(s: Session, org_id: int, year: int | None = None) -> list[AppliedDay]:
    """The days set for an organisation or its ancestors (one query), by date; nearer organisations win a date."""
    org = _org(s, org_id)
    ancestry = org.ancestor_ids()  # root first
    stmt = (select(CalendarDay, OrgNode.name).join(OrgNode, OrgNode.id == CalendarDay.org_id)
            .where(CalendarDay.org_id.in_(ancestry)))
    if year is not None:
        stmt = stmt.where(extract("year", CalendarDay.day) == year)
    rows = sorted(s.execute(stmt).all(), key=lambda r: (r[0].day, -ancestry.index(r[0].org_id)))
    days, seen = [], set()
    for row, org_name in rows:  # per date, the nearest organisation first
        days.append(AppliedDay(row.day, row.kind, row.name, row.org_id, org_name, row.org_id == org_id,
                               row.day in seen))
        seen.add(row.day)
    return days
