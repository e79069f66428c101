"""The statistics table's figures: by category, grade, unit, source and status, as of a moment, like the ledger."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import distinct, func, select

from engine.infra.errors import InvalidFormData, NotFound
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode
from engine.process.models import HumanTask
from engine.rectification import ledger
from engine.rectification.models import Hazard
from engine.reports import statistics

REG = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}
PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-11-09",
        "plan_contingency": "停用该车床"}
RECTIFY = {"measures": "已整改", "completion": "已完成"}
DAY = date(2026, 11, 2)


@pytest.fixture
def hazards(world, report_hazard, do, clock):
    """Five hazards at T0 (Mon 2026-11-02 09:00 China); A is closed one hour later; E is another school's.

    A 实训实验室 self_check general 机电 closed | B 消防 joint_inspection major 后勤 at its plan (and the bureau's
    即查即报) | C 消防 self_check ungraded 后勤 | D 交通 supervision general 机电 rectifying, due 11-03 18:00.
    """
    u, o = world.users, world.orgs
    a = report_hazard()
    do(a.id, "register_hazard", u.security, {**REG, "responsible_unit_id": o.college, "onsite_fix": True})
    do(a.id, "onsite_fix", u.staff, RECTIFY)
    do(a.id, "accept_rectification", u.security, {"accepted": True})
    b = report_hazard(category="消防", source="joint_inspection", problem="灭火器过期")
    do(b.id, "register_hazard", u.security, {**REG, "grade": "major", "responsible_unit_id": o.logistics})
    c = report_hazard(user=u.logistics_staff, category="消防", problem="疏散通道堵塞")
    d = report_hazard(category="交通", source="supervision", problem="校门口无减速带")
    do(d.id, "register_hazard", u.security, {**REG, "deadline": "2026-11-03", "responsible_unit_id": o.college})
    do(d.id, "rectification_plan", u.head, PLAN)
    e = report_hazard(user=u.outsider, category="消防")
    clock.advance(hours=1)
    do(a.id, "close_hazard", u.security2, {"closing_note": "同意销号"})
    return dict(a=a.id, b=b.id, c=c.id, d=d.id, e=e.id)


def _figures(services, org_id, as_of=None, start=DAY, end=DAY, campaign_id=None, session=None):
    query = statistics.Query(org_id=org_id, start=start, end=end, as_of=as_of or services.clock.now(),
                             campaign_id=campaign_id)
    if session is not None:
        return statistics.compute(session, query)
    with services.uow() as uow:
        return statistics.compute(uow.session, query)


def _row(figures, table, key):
    return next(r for r in figures[table] if r["key"] == key)


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=CHINA).astimezone(timezone.utc)


def test_figures_by_category_grade_unit_and_source(services, world, hazards):
    f = _figures(services, world.orgs.school)
    assert {k: f["totals"][k] for k in statistics.COUNTS} == {
        "total": 4, "open": 3, "closed": 1, "overdue": 0, "found_in_period": 4, "closed_in_period": 1}
    assert f["totals"]["closure_rate"] == 0.25
    assert (_row(f, "by_category", "消防")["total"], _row(f, "by_category", "消防")["open"]) == (2, 2)
    assert _row(f, "by_category", "消防")["grades"] == {"general": 0, "major": 1, "": 1}
    assert _row(f, "by_category", "实训实验室")["closed"] == 1
    assert _row(f, "by_category", "交通")["grades"]["general"] == 1
    assert _row(f, "by_category", "心理健康")["total"] == 0, "every category of the form is a row, zeros too"
    assert [(g["key"], g["label"], g["total"]) for g in f["by_grade"]] == [
        ("general", "一般隐患", 2), ("major", "重大隐患", 1), ("", "未定级", 1)]
    assert {r["key"]: (r["total"], r["closed"]) for r in f["by_source"] if r["total"]} == {
        "self_check": (2, 1), "joint_inspection": (1, 0), "supervision": (1, 0)}
    assert _row(f, "by_source", "self_check")["label"] == "自查自纠"
    units = {r["label"]: (r["total"], r["open"], r["closed"]) for r in f["by_unit"]}
    assert units == {"保卫处": (0, 0, 0), "机电工程学院": (2, 1, 1), "后勤管理处": (2, 2, 0)}
    assert _row(f, "by_unit", world.orgs.logistics)["grades"] == {"general": 0, "major": 1, "": 1}
    status = {r["key"]: r["count"] for r in f["by_status"]}
    assert (status["register"], status["rectify"], status["closed"]) == (1, 2, 1)
    assert sum(status.values()) == f["totals"]["total"]
    assert "by_school" not in f


def test_a_unit_scope_counts_only_that_unit_and_a_bureau_scope_every_school(services, world, hazards):
    college = _figures(services, world.orgs.college)
    assert (college["totals"]["total"], college["totals"]["closed"]) == (2, 1)
    assert [r["label"] for r in college["by_unit"]] == ["机电工程学院"]
    bureau = _figures(services, world.orgs.bureau)
    assert bureau["totals"]["total"] == 5
    assert {r["label"]: r["total"] for r in bureau["by_school"]} == {"某职业学院": 4, "另一学院": 1}


def test_totals_equal_the_ledger_rows_of_the_same_scope_and_state(services, world, hazards):
    with services.uow() as uow:
        s = uow.session
        for org_id in (world.orgs.school, world.orgs.college, world.orgs.logistics):
            f = _figures(services, org_id, session=s)
            assert f["totals"]["total"] == len(ledger.ledger_rows(s, org_id))
            assert f["totals"]["open"] == len(ledger.ledger_rows(s, org_id, status="open"))
            assert f["totals"]["closed"] == len(ledger.ledger_rows(s, org_id, status="closed"))
            assert f["totals"]["found_in_period"] == len(ledger.ledger_rows(s, org_id, date_from=DAY, date_to=DAY))
            for row in f["by_category"]:
                assert row["total"] == len(ledger.ledger_rows(s, org_id, category=row["key"])), row["key"]
            for row in f["by_grade"]:
                if row["key"]:
                    assert row["total"] == len(ledger.ledger_rows(s, org_id, grade=row["key"])), row["key"]
            for row in f["by_status"]:
                if row["key"] not in ("closed", "archive"):
                    assert row["count"] == len(ledger.ledger_rows(s, org_id, status=row["key"])), row["key"]


def test_overdue_is_the_inbox_rule_at_the_moment(services, world, hazards, clock):
    clock.set(_at(4, 10))  # register (P1D), 即查即报 (24 h) and D's rectify (11-03 18:00) are past due
    f = _figures(services, world.orgs.school)
    with services.uow() as uow:
        overdue_now = uow.session.scalar(
            select(func.count(distinct(HumanTask.hazard_id))).join(Hazard, Hazard.id == HumanTask.hazard_id)
            .where(HumanTask.state == "ready", HumanTask.due_at < clock.now(), Hazard.school_id == world.orgs.school))
    assert f["totals"]["overdue"] == overdue_now == 3
    assert {r["key"]: r["overdue"] for r in f["by_category"] if r["overdue"]} == {"消防": 2, "交通": 1}
    assert _figures(services, world.orgs.school, as_of=_at(3, 17))["totals"]["overdue"] == 2, "before D's due time"
    assert _figures(services, world.orgs.school, as_of=_at(2, 12))["totals"]["overdue"] == 0


def test_figures_as_of_a_moment_ignore_what_happened_later(services, world, hazards, clock):
    before_close = _figures(services, world.orgs.school, as_of=clock.now() - timedelta(minutes=30))
    assert (before_close["totals"]["open"], before_close["totals"]["closed"]) == (4, 0)
    assert {r["key"]: r["count"] for r in before_close["by_status"]}["close"] == 1, "A waited for 销号 then"
    before_anything = _figures(services, world.orgs.school, as_of=_at(2, 8))
    assert before_anything["totals"]["total"] == 0
    clock.advance(days=3)
    later = _figures(services, world.orgs.school, start=date(2026, 11, 3), end=date(2026, 11, 5))
    assert (later["totals"]["closed"], later["totals"]["closed_in_period"], later["totals"]["found_in_period"]) == (
        1, 0, 0)


def test_bad_queries_are_refused(services, world, hazards):
    with pytest.raises(InvalidFormData, match="starts after it ends") as caught:
        _figures(services, world.orgs.school, start=date(2026, 11, 5), end=DAY)
    assert caught.value.field == "start"
    with pytest.raises(NotFound):
        _figures(services, 999999)
    with pytest.raises(NotFound, match="campaign 77"):
        _figures(services, world.orgs.school, campaign_id=77)


def test_as_of_parsing_takes_a_date_as_its_1800_and_never_the_future():
    now = _at(10, 9)
    assert statistics.parse_as_of("2026-11-03", now) == _at(3, 18)
    assert statistics.parse_as_of(None, now) == now
    assert statistics.parse_as_of("2026-11-20", now) == now
    assert statistics.parse_as_of("2026-11-03T08:30", now) == datetime(2026, 11, 3, 0, 30, tzinfo=timezone.utc)
    with pytest.raises(InvalidFormData):
        statistics.parse_as_of("yesterday", now)


def test_who_may_read_which_scope(services, world):
    from engine.org import accounts

    with services.uow() as uow:
        s = uow.session
        u, o = world.users, world.orgs

        def orgs(user_id):
            return {n.id for n in statistics.statistics_orgs(s, accounts.get_user(s, user_id))}

        assert orgs(u.head) == {o.college}
        assert {o.school, o.college, o.logistics, o.security_unit} == orgs(u.security) == orgs(u.leader)
        assert {o.bureau, o.school, o.other_school, o.foreign_unit} <= orgs(u.supervisor)
        assert orgs(u.staff) == set() and orgs(u.designer) == set()
        assert not statistics.can_read_statistics(s, accounts.get_user(s, u.head), o.school)
        assert statistics.can_read_statistics(s, accounts.get_user(s, u.supervisor), o.foreign_unit)
        admin = accounts.add_user(s, "admin", "管理员", "pw", s.get(OrgNode, o.school), services.clock.now(),
                                  roles=[("admin", s.get(OrgNode, o.school))])
        assert orgs(admin.id) == orgs(u.security)
