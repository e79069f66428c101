"""Working-day calendar: weekends, Chinese public holidays and make-up working days (调休), per organisation.

The national calendar ships as data (engine/holidays/CN-<year>.json, one file a year); an organisation adds its
own days (a school's sports day off, a year the shipped files do not cover yet) as CalendarDay rows, which
override the national data for that organisation and everything below it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import RectiflowError
from engine.infra.timezone import CHINA, END_OF_WORKDAY
from engine.org.models import OrgNode
from engine.process.models import CALENDAR_DAY_KINDS, CalendarDay

HOLIDAY_DIR = Path(__file__).resolve().parent / "holidays"
# A walk further than this many calendar days without finding enough working days means broken data.
_MAX_WALK_DAYS = 3660


@dataclass(frozen=True)
class YearData:
    """One shipped year: its holidays and make-up working days, and whether the schedule is official."""

    year: int
    status: str
    source: str
    holidays: dict[date, str]
    workdays: dict[date, str]


def load_year_file(path: Path) -> YearData:
    """Read one holiday data file (ranges of holidays, single 调休 working days)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    holidays: dict[date, str] = {}
    for item in raw.get("holidays", []):
        day, last = date.fromisoformat(item["from"]), date.fromisoformat(item.get("to", item["from"]))
        while day <= last:
            holidays[day] = item["name"]
            day += timedelta(days=1)
    workdays = {date.fromisoformat(item["date"]): item["name"] for item in raw.get("workdays", [])}
    if set(holidays) & set(workdays):
        raise RectiflowError(f"{path.name}: a day cannot be both a holiday and a make-up working day")
    return YearData(int(raw["year"]), raw.get("status", "official"), raw.get("source", ""), holidays, workdays)


@lru_cache(maxsize=8)
def shipped_years(region: str = "CN", folder: Path = HOLIDAY_DIR) -> dict[int, YearData]:
    """Every shipped year of a region, by year (read once per process)."""
    return {data.year: data for data in (load_year_file(p) for p in sorted(folder.glob(f"{region}-*.json")))}


@dataclass
class WorkCalendar:
    """Answers "is this a working day" and moves datetimes by working days, in China time."""

    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)

    @classmethod
    def national(cls, region: str = "CN") -> "WorkCalendar":
        """The shipped national calendar alone."""
        cal = cls()
        for data in shipped_years(region).values():
            cal.holidays.update(data.holidays)
            cal.workdays.update(data.workdays)
        return cal

    def with_overrides(self, days: list[tuple[date, str, str]]) -> "WorkCalendar":
        """A copy where each (day, kind, name) replaces what the national data says about that day."""
        cal = WorkCalendar(dict(self.holidays), dict(self.workdays))
        for day, kind, name in days:
            cal.holidays.pop(day, None)
            cal.workdays.pop(day, None)
            (cal.holidays if kind == "holiday" else cal.workdays)[day] = name
        return cal

    def is_working_day(self, day: date) -> bool:
        """Weekdays are working days unless a holiday; weekend days only when a make-up working day."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def shift(self, when: datetime, working_days: int) -> datetime:
        """The same China clock time on the n-th working day after (n > 0) or before (n < 0) `when`'s day."""
        local = when.astimezone(CHINA)
        day, step, left = local.date(), (1 if working_days >= 0 else -1), abs(working_days)
        walked = 0
        while left:
            day += timedelta(days=step)
            walked += 1
            if walked > _MAX_WALK_DAYS:
                raise RectiflowError("the working-day calendar has no working days in ten years")
            if self.is_working_day(day):
                left -= 1
        return datetime.combine(day, local.timetz().replace(tzinfo=None), CHINA).astimezone(timezone.utc)

    def due_after(self, start: datetime, working_days: int) -> datetime:
        """End of the working day (18:00 China time) that is `working_days` working days after `start`."""
        day = self.shift(start, working_days).astimezone(CHINA).date()
        return datetime.combine(day, END_OF_WORKDAY, CHINA).astimezone(timezone.utc)


class CalendarBook:
    """Per-organisation calendars within one unit of work; each organisation's overrides are read once."""

    def __init__(self, session: Session, region: str = "CN"):
        self.session = session
        self.national = WorkCalendar.national(region)
        self._by_org: dict[int | None, WorkCalendar] = {}

    def for_org(self, org_id: int | None) -> WorkCalendar:
        """The calendar that applies to an organisation: national data plus its and its ancestors' days."""
        if org_id in self._by_org:
            return self._by_org[org_id]
        calendar = self.national
        org = self.session.get(OrgNode, org_id) if org_id is not None else None
        if org is not None:
            ancestry = org.ancestor_ids()
            rows = self.session.execute(
                select(CalendarDay.org_id, CalendarDay.day, CalendarDay.kind, CalendarDay.name)
                .where(CalendarDay.org_id.in_(ancestry))
            ).all()
            if rows:
                # Nearer organisations win: apply root first, the organisation itself last.
                rows.sort(key=lambda r: ancestry.index(r.org_id))
                calendar = calendar.with_overrides([(r.day, r.kind, r.name) for r in rows])
        self._by_org[org_id] = calendar
        return calendar


def set_calendar_day(session: Session, org_id: int, day: date, kind: str, name: str = "") -> CalendarDay:
    """Declare a holiday or make-up working day for one organisation (and what lies below it)."""
    if kind not in CALENDAR_DAY_KINDS:
        raise RectiflowError(f"unknown calendar day kind {kind!r}; expected one of {CALENDAR_DAY_KINDS}")
    row = session.scalars(select(CalendarDay).where(CalendarDay.org_id == org_id, CalendarDay.day == day)).first()
    if row is None:
        row = CalendarDay(org_id=org_id, day=day, kind=kind, name=name)
        session.add(row)
    else:
        row.kind, row.name = kind, name
    return row


def import_year(session: Session, org_id: int, path: Path) -> int:
    """Load a holiday data file (same format as the shipped ones) as one organisation's own days."""
    data = load_year_file(path)
    for day, name in data.holidays.items():
        set_calendar_day(session, org_id, day, "holiday", name)
    for day, name in data.workdays.items():
        set_calendar_day(session, org_id, day, "workday", name)
    return len(data.holidays) + len(data.workdays)
