"""Periods of recurring inspections in China time: keys, start days on the working-day calendar, catching up."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from engine.infra.timezone import CHINA
from engine.process.calendar import WorkCalendar
from engine.schedules.cadence import Recurrence, parse_window
from engine.schedules.service import campaign_stages

NATIONAL = WorkCalendar.national()


def china(y, m, d, hh=8, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


@pytest.mark.parametrize("cadence, day, key, first", [
    ("daily", date(2026, 11, 23), "2026-11-23", date(2026, 11, 23)),
    ("weekly", date(2026, 11, 26), "2026-W48", date(2026, 11, 23)),
    ("weekly", date(2027, 1, 1), "2026-W53", date(2026, 12, 28)),  # ISO week-year, not the calendar year
    ("monthly", date(2026, 11, 30), "2026-11", date(2026, 11, 1)),
    ("quarterly", date(2026, 11, 23), "2026-Q4", date(2026, 10, 1)),
    ("quarterly", date(2027, 3, 31), "2027-Q1", date(2027, 1, 1)),
])
def test_period_keys_and_first_days(cadence, day, key, first):
    period = Recurrence(cadence, NATIONAL, weekday=5).containing(day)
    assert (period.key, period.first_day) == (key, first)


def test_daily_patrols_run_every_day_including_weekends_and_holidays():
    daily = Recurrence("daily", NATIONAL)
    assert daily.containing(date(2026, 10, 3)).start == china(2026, 10, 3)  # 国庆 holiday, a Saturday
    assert daily.after(daily.containing(date(2026, 12, 31))).key == "2027-01-01"


def test_weekly_check_day_is_its_weekday_even_on_a_holiday():
    friday = Recurrence("weekly", NATIONAL, weekday=5)
    assert friday.containing(date(2026, 11, 2)).start == china(2026, 11, 6)
    assert friday.containing(date(2026, 10, 1)).start == china(2026, 10, 2)  # inside 国庆: still the 检查日


def test_monthly_and_quarterly_start_on_the_first_working_day():
    monthly = Recurrence("monthly", NATIONAL)
    assert monthly.containing(date(2026, 11, 20)).start == china(2026, 11, 2)  # 11-01 is a Sunday
    assert monthly.containing(date(2026, 10, 20)).start == china(2026, 10, 8)  # 国庆 10-01..07
    assert Recurrence("quarterly", NATIONAL).containing(date(2026, 12, 1)).start == china(2026, 10, 8)
    assert Recurrence("monthly", NATIONAL).after(monthly.containing(date(2026, 12, 5))).key == "2027-01"


def test_a_chosen_day_moves_to_the_next_working_day_and_never_out_of_its_period():
    assert Recurrence("monthly", NATIONAL, day=15).containing(date(2026, 11, 1)).start == china(2026, 11, 16)
    sept = WorkCalendar.national().with_overrides([(date(2026, 9, d), "holiday", "x") for d in (28, 29, 30)])
    assert Recurrence("monthly", sept, day=28).containing(date(2026, 9, 1)).start == china(2026, 9, 24)


def test_due_lists_every_period_started_by_now_oldest_first():
    daily = Recurrence("daily", NATIONAL)
    due = daily.due(daily.containing(date(2026, 11, 2)), china(2026, 11, 9, 9))
    assert [p.key for p in due] == [f"2026-11-{d:02d}" for d in range(2, 10)]
    assert daily.due(daily.containing(date(2026, 11, 2)), china(2026, 11, 2, 7, 59)) == []


@pytest.mark.parametrize("window, expected", [("P1D", timedelta(days=1)), ("p7d", timedelta(days=7)),
                                              ("PT10H", timedelta(hours=10)), ("P1M", timedelta(days=30))])
def test_windows_are_iso_durations(window, expected):
    assert parse_window(window, datetime(2026, 11, 1, tzinfo=CHINA)) == expected


@pytest.mark.parametrize("window", ["", "1D", "P", "PXD", "P0D", "P2Y"])
def test_unusable_windows_are_refused(window):
    with pytest.raises(ValueError):
        parse_window(window)


def test_campaign_stages_follow_each_other_inside_the_window():
    stages = campaign_stages(date(2027, 1, 4), 30)
    assert stages == {"self_check": {"start": "2027-01-04", "end": "2027-01-15"},
                      "joint_inspection": {"start": "2027-01-16", "end": "2027-01-21"},
                      "rectification": {"start": "2027-01-22", "end": "2027-01-27"},
                      "supervision": {"start": "2027-01-28", "end": "2027-02-02"}}
    short = campaign_stages(date(2027, 1, 4), 4)
    assert [v["end"] for v in short.values()] == ["2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07"]


@pytest.mark.parametrize("day, key, first, last", [
    (date(2026, 11, 2), "2026-S2", date(2026, 9, 1), date(2027, 2, 28)),
    (date(2027, 1, 20), "2026-S2", date(2026, 9, 1), date(2027, 2, 28)),  # autumn runs into the next year
    (date(2027, 3, 1), "2027-S1", date(2027, 3, 1), date(2027, 8, 31)),
    (date(2028, 2, 29), "2027-S2", date(2027, 9, 1), date(2028, 2, 29)),  # a leap year's last February day
])
def test_semesters_default_to_spring_from_03_01_and_autumn_from_09_01(day, key, first, last):
    semester = Recurrence("semester", NATIONAL)
    period = semester.containing(day)
    assert (period.key, period.first_day, semester.last_day(period.first_day)) == (key, first, last)
    assert semester.by_key(key) == period


def test_a_semester_starts_on_its_first_working_day_and_the_next_follows():
    semester = Recurrence("semester", NATIONAL)
    autumn = semester.containing(date(2026, 11, 2))
    assert autumn.start == china(2026, 9, 1)  # a Tuesday
    spring = semester.after(autumn)
    assert (spring.key, spring.start) == ("2027-S1", china(2027, 3, 1))
    assert semester.containing(date(2027, 9, 1)).start == china(2027, 9, 1)
    assert semester.containing(date(2029, 9, 1)).start == china(2029, 9, 3), "2029-09-01 is a Saturday"


def test_semester_start_days_are_data():
    school = Recurrence("semester", NATIONAL, semester_starts=["09-01", "02-20"])
    assert school.containing(date(2027, 2, 25)).key == "2027-S1"
    assert school.last_day(school.containing(date(2026, 11, 2)).first_day) == date(2027, 2, 19)
    with pytest.raises(ValueError, match="day of the year"):
        Recurrence("semester", NATIONAL, semester_starts=["13-01"])
    with pytest.raises(ValueError, match="not a semester"):
        school.by_key("2026-Q4")
