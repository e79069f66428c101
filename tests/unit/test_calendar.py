"""The working-day calendar: shipped 2026/2027 data, weekends, holidays, 调休 and working-day arithmetic."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import chinese_calendar
import pytest

from engine.infra.errors import InvalidDiagram
from engine.infra.timezone import CHINA
from engine.process.calendar import WorkCalendar, shipped_years
from engine.process.deadlines import EscalationPolicy, schedule


def china(y, m, d, hh=18, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


def test_shipped_2026_calendar_matches_the_state_council_schedule_day_by_day():
    cal = WorkCalendar.national()
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert cal.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    assert shipped_years()[2026].status == "official"


def test_2027_ships_the_statutory_days_marked_provisional():
    data = shipped_years()[2027]
    assert data.status == "provisional" and "PROVISIONAL" in data.source
    assert data.holidays[date(2027, 2, 6)] == "春节" and data.holidays[date(2027, 10, 1)] == "国庆节"
    assert data.workdays == {}


@pytest.mark.parametrize("day, working", [
    (date(2026, 11, 21), False),  # Saturday
    (date(2026, 10, 5), False),  # 国庆节 on a Monday
    (date(2026, 10, 10), True),  # Saturday, make-up working day (调休)
    (date(2026, 9, 20), True),  # Sunday, make-up working day
    (date(2026, 11, 23), True),
])
def test_weekends_holidays_and_make_up_days(day, working):
    assert WorkCalendar.national().is_working_day(day) is working


def test_shifting_by_working_days_skips_weekends_and_holidays_and_counts_make_up_days():
    cal = WorkCalendar.national()
    friday = china(2026, 9, 18, 10)
    assert cal.shift(friday, 1) == china(2026, 9, 20, 10)  # Sunday 9-20 is a 调休 working day
    assert cal.shift(china(2026, 9, 24), 2) == china(2026, 9, 29)  # over 中秋 9-25..27
    assert cal.shift(china(2026, 9, 30), 2) == china(2026, 10, 9)  # over 国庆 10-1..7
    assert cal.shift(china(2026, 10, 12), -1) == china(2026, 10, 10)  # back onto the Saturday 调休
    assert cal.due_after(china(2026, 11, 20, 9), 1) == china(2026, 11, 23)  # Friday + 1 → Monday 18:00


def test_organisation_overrides_replace_the_national_day():
    cal = WorkCalendar.national().with_overrides([(date(2026, 11, 23), "holiday", "校运动会"),
                                                  (date(2026, 10, 5), "workday", "值班")])
    assert not cal.is_working_day(date(2026, 11, 23))
    assert cal.is_working_day(date(2026, 10, 5))
    assert WorkCalendar.national().is_working_day(date(2026, 11, 23)), "the national calendar is unchanged"


def test_schedule_reminds_one_working_day_before_then_climbs_every_two_working_days():
    steps = schedule(china(2026, 9, 24), EscalationPolicy(), WorkCalendar.national())
    assert [(s.action, s.rung, s.at) for s in steps] == [
        ("remind", None, china(2026, 9, 23)),
        ("overdue", "unit_head", china(2026, 9, 24)),
        ("escalate", "security_office", china(2026, 9, 29)),
        ("escalate", "leader", china(2026, 10, 8)),
        ("escalate", "supervisor", china(2026, 10, 10)),
    ]


def test_policy_properties_are_checked():
    policy = EscalationPolicy.from_properties({"remindBeforeWorkingDays": "0", "escalationLadder": "leader,supervisor"})
    assert policy.remind_before == 0 and policy.ladder == ("leader", "supervisor")
    with pytest.raises(InvalidDiagram, match="invalid escalation policy"):
        EscalationPolicy.from_properties({"escalationLadder": "principal"})
    with pytest.raises(InvalidDiagram, match="whole numbers"):
        EscalationPolicy.from_properties({"escalateEveryWorkingDays": "two"})
