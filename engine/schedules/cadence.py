"""The periods of a recurring inspection, in China time: their keys, the day each occurrence starts, the next one.

Daily and weekly occurrences start on their calendar day whatever it is (seed 004: key sites are patrolled every
day; a fire 检查日 is a fixed weekday). Monthly, quarterly and semester ones start on the first working day of the
period, or on a chosen day moved to the next working day (the previous one if the period ends first), per the
school's working-day calendar (engine/calendar.py).

A semester (seed 004: 每学期至少组织2次应急演练, 专题教育不少于8课时) runs from one of the school's semester start days
to the next. China's schools have a spring semester (≈ Feb/Mar–Jul) and an autumn one (≈ Sep–Jan); the start days
are data (`semester_starts`, "MM-DD", default 03-01 and 09-01). Keys are 2026-S1 (spring), 2026-S2 (autumn, which
runs into the next calendar year): the year and number of the start day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.infra.timezone import CHINA
from engine.process.calendar import WorkCalendar
from engine.schedules.models import CADENCES

SEMESTER_STARTS = ("03-01", "09-01")  # spring and autumn semesters
RUN_AT = time(8, 0)  # an occurrence starts at 08:00 China time on its day: the start of the school day
MAX_WINDOW = timedelta(days=366)


@dataclass(frozen=True)
class Period:
    """One period of a cadence: its key, first calendar day, and when its occurrence starts (UTC)."""

    key: str
    first_day: date
    start: datetime


def parse_window(window: str, start: datetime | None = None) -> timedelta:
    """An ISO-8601 duration (P1D, P7D, P1M, PT10H) as a timedelta from `start`; ValueError when unusable."""
    text = (window or "").strip().upper()
    if not text.startswith("P"):
        raise ValueError(f"{window!r} is not an ISO-8601 duration such as P1D or P7D")
    try:
        parsed = TimerEventDefinition.parse_iso_duration(text)
    except Exception:
        raise ValueError(f"{window!r} is not an ISO-8601 duration such as P1D or P7D") from None
    delta = TimerEventDefinition.get_timedelta_from_start(parsed, (start or datetime(2026, 1, 1, tzinfo=CHINA)))
    if delta <= timedelta(0) or delta > MAX_WINDOW:
        raise ValueError(f"{window!r} must be longer than zero and at most a year")
    return delta


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_semester_starts(values) -> tuple[tuple[int, int], ...]:
    """Semester start days ("03-01", "09-01") as sorted (month, day) pairs; ValueError when unusable."""
    values = list(values or SEMESTER_STARTS)
    if not 1 <= len(values) <= 4:
        raise ValueError("between one and four semester start days, such as 03-01 and 09-01")
    pairs = set()
    for value in values:
        try:
            month, day = (int(part) for part in str(value).split("-"))
            date(2026, month, day)
        except ValueError:
            raise ValueError(f"{value!r} is not a day of the year such as 03-01") from None
        if day > 28:
            raise ValueError(f"{value!r}: a semester starts on day 1..28 of its month")
        pairs.add((month, day))
    return tuple(sorted(pairs))


class Recurrence:
    """The periods of one schedule's cadence under one working-day calendar."""

    def __init__(self, cadence: str, calendar: WorkCalendar, weekday: int | None = None, day: int | None = None,
                 semester_starts=None):
        if cadence not in CADENCES:
            raise ValueError(f"cadence must be one of {', '.join(CADENCES)}")
        self.cadence, self.calendar, self.weekday, self.day = cadence, calendar, weekday or 1, day
        self.semester_starts = parse_semester_starts(semester_starts)

    def _semester_start(self, day: date) -> date:
        """The start day of the semester that contains `day` (perhaps in the previous calendar year)."""
        starts = [date(day.year, m, d) for m, d in self.semester_starts if date(day.year, m, d) <= day]
        if starts:
            return starts[-1]
        month, first = self.semester_starts[-1]
        return date(day.year - 1, month, first)

    def first_day_of(self, day: date) -> date:
        """The first calendar day of the period that contains `day`."""
        if self.cadence == "daily":
            return day
        if self.cadence == "weekly":
            return day - timedelta(days=day.weekday())
        if self.cadence == "monthly":
            return day.replace(day=1)
        if self.cadence == "semester":
            return self._semester_start(day)
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)

    def _after_day(self, first: date) -> date:
        if self.cadence == "daily":
            return first + timedelta(days=1)
        if self.cadence == "weekly":
            return first + timedelta(days=7)
        if self.cadence == "semester":
            later = [date(first.year, m, d) for m, d in self.semester_starts if date(first.year, m, d) > first]
            month, day = self.semester_starts[0]
            return later[0] if later else date(first.year + 1, month, day)
        return _add_months(first, 1 if self.cadence == "monthly" else 3)

    def last_day(self, first: date) -> date:
        """The last calendar day of the period starting on `first`."""
        return self._after_day(first) - timedelta(days=1)

    def key(self, first: date) -> str:
        """2026-11-23, 2026-W48, 2026-11, 2026-Q4 or 2026-S2: sorts in time order within one cadence."""
        if self.cadence == "daily":
            return first.isoformat()
        if self.cadence == "weekly":
            year, week, _ = first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.cadence == "monthly":
            return f"{first.year}-{first.month:02d}"
        if self.cadence == "semester":
            return f"{first.year}-S{[date(first.year, m, d) for m, d in self.semester_starts].index(first) + 1}"
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"

    def start_day(self, first: date) -> date:
        """The day the period's occurrence starts."""
        if self.cadence == "daily":
            return first
        if self.cadence == "weekly":
            return first + timedelta(days=self.weekday - 1)
        end = self._after_day(first) - timedelta(days=1)
        wanted = first.replace(day=self.day) if self.day else first
        day = wanted
        while day <= end and not self.calendar.is_working_day(day):
            day += timedelta(days=1)
        if day > end:  # no working day left in the period: the last one before the wanted day
            day = wanted
            while day > first and not self.calendar.is_working_day(day):
                day -= timedelta(days=1)
        return day

    def period(self, first: date) -> Period:
        """The period starting on `first` (a first day as returned by first_day_of)."""
        start = datetime.combine(self.start_day(first), RUN_AT, CHINA).astimezone(timezone.utc)
        return Period(self.key(first), first, start)

    def by_key(self, key: str) -> Period:
        """The semester of a key such as 2026-S2; ValueError for a key this cadence does not make."""
        year, sep, number = (key or "").partition("-S")
        if self.cadence != "semester" or not sep or not year.isdigit() or not number.isdigit():
            raise ValueError(f"{key!r} is not a semester such as 2026-S1")
        if not 1 <= int(number) <= len(self.semester_starts):
            raise ValueError(f"{key!r}: the school has {len(self.semester_starts)} semesters a year")
        month, day = self.semester_starts[int(number) - 1]
        return self.period(date(int(year), month, day))

    def containing(self, when: date | datetime) -> Period:
        """The period containing a day (or an instant, taken in China time)."""
        day = when.astimezone(CHINA).date() if isinstance(when, datetime) else when
        return self.period(self.first_day_of(day))

    def after(self, period: Period) -> Period:
        """The period that follows."""
        return self.period(self._after_day(period.first_day))

    def due(self, from_period: Period, now: datetime) -> list[Period]:
        """Every period from `from_period` on whose occurrence should have started by `now`, oldest first."""
        periods, current = [], from_period
        while current.start <= now:
            periods.append(current)
            current = self.after(current)
        return periods
