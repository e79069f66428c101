"""Hazard records as the seeds keep them: a past 检查时间 counted in its own period (a paper inspection typed in a
day later), never a future one; 四落实 with funds on a 重大 hazard; the notice carrying 临时处置措施 and re-issued
as a new revision when the deadline or measures change."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from engine.infra.errors import InvalidFormData
from engine.process.models import Event, OutboxMessage
from engine.rectification import notices
from engine.rectification.models import Hazard
from engine.reports import statistics


def _events(services, kind):
    with services.uow() as uow:
        return list(uow.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


# -- 检查时间 ---------------------------------------------------------------------------------------------
def test_a_paper_inspection_entered_a_day_later_counts_in_its_period_and_a_future_day_is_refused(
        services, world, report_hazard, clock):
    report_hazard(checked_at="2026-11-02", problem="当天录入")
    assert "backdated" not in _events(services, "HazardReported")[-1].data
    clock.advance(days=1)  # 11-03: entered from the paper sheet of the inspection on 11-02
    with pytest.raises(InvalidFormData, match="checked_at") as refused:
        report_hazard(checked_at="2026-11-04")
    assert refused.value.errors[0]["field"] == "checked_at" and "future" in refused.value.errors[0]["message"]
    hazard = report_hazard(checked_at="2026-11-02")
    assert hazard.checked_at == date(2026, 11, 2)
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Hazard)) == 2  # the refused one left nothing
    reported = _events(services, "HazardReported")[-1].data
    assert reported["checked_at"] == "2026-11-02" and reported["backdated"] is True  # the trail says it was late
    query = statistics.Query(org_id=world.orgs.school, start=date(2026, 11, 1), end=date(2026, 11, 2),
                             as_of=statistics.report_moment(date(2026, 11, 2)))
    with services.uow() as uow:
        figures = statistics.compute(uow.session, query)
    assert figures["totals"]["total"] == 2 and figures["totals"]["found_in_period"] == 2


# -- 四落实 -------------------------------------------------------------------------------------------------
REGISTER = {"responsible_person": "刘院长", "deadline": "2026-11-20", "onsite_fix": False}
PLAN = {"plan_owner": "刘院长", "plan_measures": "更换配电箱", "plan_deadline": "2026-11-18",
        "plan_contingency": "断电停用，设置警示标志"}


def _registered(world, report_hazard, do, grade):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "grade": grade, "responsible_unit_id": world.orgs.college})
    return hazard


def test_a_major_hazards_plan_needs_its_funds_while_a_general_one_keeps_todays_rules(
        services, world, report_hazard, do, task_of):
    hazard = _registered(world, report_hazard, do, "major")
    with pytest.raises(InvalidFormData) as refused:
        do(hazard.id, "rectification_plan", world.users.head, PLAN)
    assert [e["field"] for e in refused.value.errors] == ["plan_funds"]
    with pytest.raises(InvalidFormData):  # the grade is the process's, not the submitter's to change
        do(hazard.id, "rectification_plan", world.users.head, {**PLAN, "grade": "general"})
    task_of(hazard.id, "rectification_plan")  # still open: nothing was stored
    do(hazard.id, "rectification_plan", world.users.head, {**PLAN, "plan_funds": "学校专项经费 3 万元"})
    with services.uow() as uow:
        stored = uow.session.get(Hazard, hazard.id)
        assert (stored.grade, stored.plan_funds) == ("major", "学校专项经费 3 万元")
    general = _registered(world, report_hazard, do, "general")
    do(general.id, "rectification_plan", world.users.head, PLAN)
    task_of(general.id, "rectify")


# -- 整改期限 ---------------------------------------------------------------------------------------------
def test_a_deadline_in_the_past_is_refused_and_no_notice_states_it(services, world, report_hazard, do, task_of, clock):
    hazard = report_hazard()
    with pytest.raises(InvalidFormData, match="deadline") as refused:
        do(hazard.id, "register_hazard", world.users.security,
           {**REGISTER, "grade": "major", "deadline": "2020-01-01", "responsible_unit_id": world.orgs.college})
    assert refused.value.errors == [{"field": "deadline", "message": "2020-01-01 is before today (2026-11-02)"}]
    task_of(hazard.id, "register_hazard")  # still open: nothing was stored
    with services.uow() as uow:
        assert notices.notice_of(uow.session, hazard.id) is None  # no notice printed with 2020-01-01
    do(hazard.id, "register_hazard", world.users.security,  # today is the earliest deadline
       {**REGISTER, "grade": "general", "deadline": "2026-11-02", "responsible_unit_id": world.orgs.college})
    clock.advance(days=1)
    with pytest.raises(InvalidFormData, match="plan_deadline"):
        do(hazard.id, "rectification_plan", world.users.head, {**PLAN, "plan_deadline": "2026-11-02"})
    do(hazard.id, "rectification_plan", world.users.head, {**PLAN, "plan_deadline": "2026-11-03"})
    task_of(hazard.id, "rectify")


# -- 整改通知书: 临时处置措施 and re-issuing ---------------------------------------------------------------------
def _notice_state(services, hazard_id):
    with services.uow() as uow:
        s = uow.session
        notice = notices.notice_of(s, hazard_id)
        return notice, notices.notice_versions(s, notice)


def test_the_notice_carries_temporary_measures_and_a_change_reissues_it_under_its_number(
        services, world, report_hazard, do, clock):
    ordered = report_hazard()  # measures ordered at registration are on the first notice; a plan keeping them
    do(ordered.id, "register_hazard", world.users.security,  # re-issues nothing
       {**REGISTER, "grade": "general", "responsible_unit_id": world.orgs.college, "temporary_measures": "停用车床"})
    do(ordered.id, "rectification_plan", world.users.head, PLAN)
    notice, versions = _notice_state(services, ordered.id)
    assert (notice.revision, notice.content["temporary_measures"], len(versions)) == (1, "停用车床", 1)

    hazard = _registered(world, report_hazard, do, "general")
    first, _ = _notice_state(services, hazard.id)
    assert first.revision == 1 and first.content["temporary_measures"] is None
    do(hazard.id, "rectification_plan", world.users.head, {**PLAN, "temporary_measures": "设置警戒线，暂停使用"})
    notice, versions = _notice_state(services, hazard.id)
    assert (notice.id, notice.number, notice.revision) == (first.id, first.number, 2)
    assert notice.content["temporary_measures"] == "设置警戒线，暂停使用"
    assert [(v.revision, v.content["temporary_measures"]) for v in versions] == [
        (1, None), (2, "设置警戒线，暂停使用")]  # the first version stays as it was served
    reissued = _events(services, "NoticeReissued")
    assert len(reissued) == 1 and reissued[0].data["revision"] == 2 and reissued[0].data["number"] == first.number
    assert reissued[0].data["changes"] == {"temporary_measures": [None, "设置警戒线，暂停使用"]}
    with services.uow() as uow:
        told = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice_issued")
                                   .order_by(OutboxMessage.id)).all()
        names = list(dict.fromkeys(m.payload["name"] for m in told))
        assert names[-2:] == [first.number, f"{first.number}（第2版）"]

    # A changed deadline re-issues it too, and the standard 整改要求 wording follows the new date.
    with services.uow() as uow:
        s = uow.session
        stored = s.get(Hazard, hazard.id)
        stored.deadline = date(2026, 11, 27)
        revised = notices.revise_notice(s, notices.notice_of(s, hazard.id), stored, world.users.security,
                                        clock.now(), trigger="test")
        again = notices.revise_notice(s, revised, stored, world.users.security, clock.now(), trigger="test")
        uow.commit()
    assert again is None  # nothing it states changed since
    notice, versions = _notice_state(services, hazard.id)
    assert notice.revision == 3 and notice.deadline == date(2026, 11, 27)
    assert "2026年11月27日前" in notice.content["requirements"]
    assert versions[0].deadline == date(2026, 11, 20) and "2026年11月20日前" in versions[0].content["requirements"]
