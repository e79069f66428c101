"""Per-unit inspection performance and the annual safety assessment (seed 004), on SQLite and PostgreSQL.

One small year, built through the real verbs with a moved clock (T0 = Mon 2026-11-02 09:00 China):
the college patrols its training building daily (one patrol on time, one late, one missed, one still open) and
signs its self-check on time; logistics never signs and leaves a hazard overdue; the security office's 重大
hazard is reported upward 30 hours after it was found."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from engine.assessment import excel as assessment_excel
from engine.assessment import performance
from engine.assessment import scheme as schemes
from engine.assessment.models import AnnualAssessment
from engine.assessment.service import Assessments, live_sheet
from engine.assessment.sheet import figure_records
from engine.campaigns import checklists
from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import CampaignUnit, ItemResult, MissedHazard
from engine.campaigns.service import Campaigns
from engine.infra.errors import Conflict, InvalidFormData, NotAllowed
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.lifecycle import InstanceState
from engine.process.models import HumanTask, ProcessInstance
from engine.schedules.service import Schedules, run_due_schedules

CSV = ("督查项目,序号,督查内容,督查方法,责任部门\n"
       "消防安全,1,消防设施设备配备管理情况,查阅资料 现场查看,各二级学院 保卫处 后勤管理处\n"
       ",2,消防应急演练落实情况,查阅资料,各二级学院 保卫处 后勤管理处\n").encode()
STAGES = {"self_check": {"start": "2026-11-02", "end": "2026-11-03"},
          "joint_inspection": {"start": "2026-11-16", "end": "2026-11-20"},
          "rectification": {"start": "2026-11-16", "end": "2026-12-15"},
          "supervision": {"start": "2026-12-16", "end": "2026-12-30"}}
REG = {"grade": "general", "responsible_person": "负责人", "deadline": "2026-11-03"}


def china(d, hh, mm=0) -> datetime:
    return datetime(2026, 11, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


def _ready(services, **where) -> list[HumanTask]:
    with services.uow() as uow:
        stmt = select(HumanTask).where(HumanTask.state == "ready", *[getattr(HumanTask, k) == v
                                                                      for k, v in where.items()])
        return list(uow.session.scalars(stmt.order_by(HumanTask.id)))


def _do(services, user, data, **where):
    [task] = _ready(services, **where)
    return services.complete_task(task.id, user, data)


@pytest.fixture
def year(services, world, report_hazard, clock):
    """The constructed year (see the module docstring); returns the heads' ids and the hazards."""
    u, o = world.users, world.orgs
    with services.uow() as uow:
        s = uow.session
        now = clock.now()
        heads = {}
        for name, org_id in (("head_bw", o.security_unit), ("head_hq", o.logistics)):
            org = s.get(OrgNode, org_id)
            heads[name] = accounts.add_user(s, name, name, "pw", org, now, roles=[("department_head", org)]).id
        template = checklists.import_checklist(s, CSV, "t.csv", "小清单", now)
        uow.commit()
    Schedules(services).create_schedule(u.security, {
        "title": "重点部位每日巡视", "cadence": "daily", "kind": "patrol", "window": "P1D",
        "target": {"role": "department_staff", "units": [{"org_id": o.college, "sites": ["实训楼A"]}]}})
    run_due_schedules(services)
    campaign = Campaigns(services).create_campaign(u.security, "专项整治", template.id, [o.college, o.logistics],
                                                   STAGES)
    with services.uow() as uow:
        items = [i.id for i in checklists.get_template(uow.session, template.id).items]
    Campaigns(services).record_item_results(u.staff, campaign.id, o.college,
                                            [{"item_id": i, "result": "checked"} for i in items])
    _do(services, u.staff, {"remarks": "已逐项自查"}, bpmn_id="work_checklist", candidate_org_id=o.college)
    _do(services, u.head, {"signer_name": "负责人"}, bpmn_id="sign_self_check", candidate_org_id=o.college)
    # H1: the college's, closed on the spot the same day (deadline 11-03).
    h1 = report_hazard()
    _do(services, u.security, {**REG, "responsible_unit_id": o.college, "onsite_fix": True}, hazard_id=h1.id)
    _do(services, u.staff, {"measures": "已整改", "completion": "已完成"}, hazard_id=h1.id)
    _do(services, u.security, {"accepted": True}, hazard_id=h1.id)
    _do(services, u.security2, {"closing_note": "同意销号"}, hazard_id=h1.id)
    # H2: logistics', due 11-03, never fixed.
    h2 = report_hazard(user=u.logistics_staff, problem="疏散通道堵塞")
    _do(services, u.security, {**REG, "responsible_unit_id": o.logistics}, hazard_id=h2.id)
    # H4: a 重大 hazard of the college reported upward at once.
    h4 = report_hazard(problem="配电箱无防护")
    _do(services, u.security, {**REG, "grade": "major", "deadline": "2026-12-31", "responsible_unit_id": o.college},
        hazard_id=h4.id)
    h3 = report_hazard(problem="消防控制室无人值守")
    _do(services, u.staff, {"result": "normal"}, bpmn_id="patrol_check")  # day 1, on time

    clock.set(china(3, 8, 1))
    run_due_schedules(services)  # day 2
    clock.set(china(3, 15))  # 30 hours after H3 was found: graded 重大 and reported upward only now
    _do(services, u.security, {**REG, "grade": "major", "deadline": "2026-12-31",
                               "responsible_unit_id": o.security_unit}, hazard_id=h3.id)
    clock.set(china(4, 8, 1))
    run_due_schedules(services)  # day 3
    clock.set(china(4, 10))
    [day2, _] = _ready(services, bpmn_id="patrol_check")
    services.complete_task(day2.id, u.staff, {"result": "normal"})  # late: due 11-04 08:00
    clock.set(china(5, 8, 30))
    run_due_schedules(services)  # day 4; day 3 (due 11-05 08:00) is missed
    clock.set(china(5, 9))
    return {"heads": heads, "h1": h1.id, "h2": h2.id, "h3": h3.id, "h4": h4.id, "campaign": campaign.id}


def _performance(services, world, start=date(2026, 11, 1), end=date(2026, 11, 30)):
    with services.uow() as uow:
        s = uow.session
        rows = performance.unit_performance(s, s.get(OrgNode, world.orgs.school), start, end, services.clock.now())
        return {r.org_id: r.as_dict() for r in rows}


def test_performance_counts_patrols_and_self_checks_per_unit_and_exports_them(services, world, year):
    rows = _performance(services, world)
    college, logistics = rows[world.orgs.college], rows[world.orgs.logistics]
    assert college["patrol"] == {"scheduled": 4, "done": 1, "late": 1, "missed": 1, "open": 1,
                                 "on_time_rate": round(1 / 3, 4)}
    assert college["self_check"] == {"scheduled": 1, "done": 1, "late": 0, "missed": 0, "open": 0, "on_time_rate": 1.0}
    assert logistics["self_check"]["missed"] == 1 and logistics["patrol"]["scheduled"] == 0
    assert rows[world.orgs.security_unit]["self_check"]["scheduled"] == 0, "保卫处 was not in the campaign"
    early = _performance(services, world, end=date(2026, 11, 4))[world.orgs.college]["patrol"]
    assert (early["scheduled"], early["open"]) == (3, 0), "the day-4 patrol lies outside the period"

    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        found = performance.records(s, school, [world.orgs.college], date(2026, 11, 1), date(2026, 11, 30),
                                    services.clock.now())[world.orgs.college]
    assert [r["state"] for r in found["patrol"]] == ["done", "late", "missed", "open"]
    assert [r["type"] for r in found["self_check"]] == ["campaign_unit"]

    perf = load_workbook(io.BytesIO(assessment_excel.performance_workbook(
        "某职业学院", "2026-11-01", "2026-11-30", services.clock.now(), list(rows.values()))))
    table = {r[1]: r for r in perf[assessment_excel.PERFORMANCE_TITLE].iter_rows(min_row=4, values_only=True)}
    assert table["机电工程学院"][2:7] == (4, 1, 1, 1, 1) and table["后勤管理处"][7:12] == (1, 0, 0, 1, 0)


def _sheet(services, world):
    with services.uow() as uow:
        s = uow.session
        return live_sheet(s, s.get(OrgNode, world.orgs.school), 2026, services.clock.now())


def _unit(sheet, org_id):
    return next(u for u in sheet["units"] if u["org_id"] == org_id)


def _add_missed(services, world, year):
    """应发现未发现: the county later found H4 on an item the college had signed off as fine."""
    with services.uow() as uow:
        s = uow.session
        cu = s.scalars(select(CampaignUnit).where(CampaignUnit.campaign_id == year["campaign"],
                                                  CampaignUnit.org_id == world.orgs.college)).one()
        result = s.scalars(select(ItemResult).where(ItemResult.campaign_unit_id == cu.id)).first()
        s.add(MissedHazard(hazard_id=year["h4"], item_result_id=result.id, campaign_id=year["campaign"],
                           org_id=world.orgs.college, level="school", person_id=result.by_id, found_level="county",
                           recorded_at=services.clock.now()))
        uow.commit()
        return len(items_for_unit(cu.campaign.template, cu.org))


def test_score_sheet_figures_match_their_records_the_scheme_and_the_excel_file(services, world, year):
    required = _add_missed(services, world, year)
    sheet = _sheet(services, world)
    college = _unit(sheet, world.orgs.college)
    scores = {i["key"]: i["score"] for i in college["items"]}
    assert scores == {"coverage": 20, "patrols": 5, "self_checks": 5, "closed_on_time": 25, "overdue": 10,
                      "missed": 5, "drills": 10, "supervision": 5}, "no drill schedule or supervision: nothing due"
    assert college["total"] == round(sum(scores.values()), 2) and college["eligible"]
    assert college["heads"] == [{"user_id": world.users.head, "name": "head", "verdict": "合格"}]
    # Every figure is its records: patrols 1 on time of 3 due, the closed hazard, the missed record.
    _, patrols = figure_records(sheet, world.orgs.college, "patrols")
    assert [(r["type"], r["got"]) for r in patrols["records"]] == [("patrol_task", 1), ("patrol_task", 0),
                                                                   ("patrol_task", 0)]
    assert patrols["figure"] == {"got": 1, "of": 3, "rate": round(1 / 3, 4), "count": 3}
    _, coverage = figure_records(sheet, world.orgs.college, "coverage")
    assert coverage["figure"]["got"] == coverage["figure"]["of"] == required
    _, closed = figure_records(sheet, world.orgs.college, "closed_on_time")
    assert [(r["type"], r["id"], r["got"]) for r in closed["records"]] == [("hazard", year["h1"], 1)]
    _, missed = figure_records(sheet, world.orgs.college, "missed")
    assert [r["hazard_id"] for r in missed["records"]] == [year["h4"]] and missed["figure"]["deducted"] == 5

    logistics = _unit(sheet, world.orgs.logistics)
    _, overdue = figure_records(sheet, world.orgs.logistics, "overdue")
    assert [(r["id"], r["note"]) for r in overdue["records"]] == [(year["h2"], "逾期未销号")]
    assert {i["key"]: i["score"] for i in logistics["items"]}["self_checks"] == 0
    assert logistics["total"] < sheet["scheme"]["pass_mark"]
    assert [v["key"] for v in logistics["vetoes"]] == ["failed"], "below the pass mark is itself a veto"
    assert logistics["heads"][0]["verdict"] == "不合格"

    book = load_workbook(io.BytesIO(assessment_excel.sheet_workbook(sheet, "已签发")))
    values = list(book[assessment_excel.SHEET_TITLE].iter_rows(values_only=True))
    assert values[0][0] == "某职业学院2026年度安全工作考核评分表"
    assert values[2][:3] == ("序号", "单位", "自查自纠检查表覆盖率（20分）") and values[2][-5:] == (
        "总分", "一票否决", "评先资格", "考核结论", "单位负责人")
    by_unit = {r[1]: r for r in values[3:]}
    assert by_unit["机电工程学院"][2:11] == (20, 5, 5, 25, 10, 5, 10, 5, college["total"])
    security = by_unit["保卫处"]
    assert (security[-5], security[-3], security[-2]) == (100, "取消", "不合格")
    assert "重大隐患未即查即报" in security[-4] and security[-1] == "head_bw（不合格）"
    records = list(book[assessment_excel.RECORDS_TITLE].iter_rows(values_only=True))[1:]
    patrol_rows = [r for r in records if r[0] == "机电工程学院" and r[2] == "patrol_task"]
    assert [(r[6], r[7]) for r in patrol_rows] == [("1/1", "按时完成"), ("0/1", "逾期完成"), ("0/1", "未完成")]

    # The scheme: validated (known sources, weights summing to 100), and a lower pass mark lets logistics through.
    assessments = Assessments(services)
    default = schemes.default_scheme()
    broken = {**default, "items": [{**default["items"][0], "source": "nope"}, *default["items"][1:]]}
    with pytest.raises(InvalidFormData) as caught:
        assessments.save_scheme(world.users.security, None, broken)
    assert {e["field"] for e in caught.value.errors} == {"items.0.source"}
    with pytest.raises(InvalidFormData, match="sum to 130"):
        assessments.save_scheme(world.users.security, None, {
            **default, "items": [{**default["items"][0], "weight": 50}, *default["items"][1:]]})
    with pytest.raises(NotAllowed):
        assessments.save_scheme(world.users.leader, None, default)
    assessments.save_scheme(world.users.security, None, schemes.with_weights(
        default, {"coverage": 10, "closed_on_time": 35}, 40))
    logistics = _unit(_sheet(services, world), world.orgs.logistics)
    assert logistics["vetoes"] == [] and logistics["total"] >= 40


def test_vetoes_and_the_sign_off_from_submission_through_a_return_to_signed(services, world, year):
    sheet = _sheet(services, world)
    security = _unit(sheet, world.orgs.security_unit)
    assert security["total"] == 100, "every item is full marks: only the veto fails it"
    [veto] = security["vetoes"]
    assert veto["key"] == "major_report_late" and [r["id"] for r in veto["records"]] == [year["h3"]]
    assert veto["records"][0]["note"] == "发现后 30 小时上报"
    assert not security["eligible"] and security["heads"] == [
        {"user_id": year["heads"]["head_bw"], "name": "head_bw", "verdict": "不合格"}]
    assert _unit(sheet, world.orgs.college)["vetoes"] == [], "the college reported its 重大 hazard at once"

    assessments = Assessments(services)
    with pytest.raises(NotAllowed):
        assessments.submit(world.users.leader, None, 2026)
    submitted = assessments.submit(world.users.security, None, 2026)
    with pytest.raises(Conflict):
        assessments.submit(world.users.security, None, 2026)
    # An accident after submission: the submitted sheet is frozen, the resubmitted one vetoes the college.
    with pytest.raises(NotAllowed):
        assessments.record_accident(world.users.staff, {"unit_id": world.orgs.college, "occurred_on": "2026-11-04",
                                                        "description": "实训中手部划伤"})
    with pytest.raises(InvalidFormData) as bad:
        assessments.record_accident(world.users.security, {"unit_id": world.orgs.college, "occurred_on": "2026-12-24",
                                                           "description": ""})
    assert {e["field"] for e in bad.value.errors} == {"occurred_on", "description"}
    accident = assessments.record_accident(world.users.security, {
        "unit_id": world.orgs.college, "occurred_on": "2026-11-04", "description": "实训中学生手部划伤"})
    [review] = _ready(services, bpmn_id="review_assessment")
    assert (review.candidate_role, review.candidate_org_id) == ("leader", world.orgs.school)
    with pytest.raises(InvalidFormData):
        services.complete_task(review.id, world.users.leader, {"decision": "return"})  # a reason is required
    services.complete_task(review.id, world.users.leader, {"decision": "return", "reason": "事故未计入"})
    with services.uow() as uow:
        row = uow.session.get(AnnualAssessment, submitted.id)
        assert (row.status, row.return_reason) == ("returned", "事故未计入")
        assert _unit(row.sheet, world.orgs.college)["vetoes"] == [], "still the sheet as submitted"
    [revise] = _ready(services, bpmn_id="revise_assessment")
    assert revise.candidate_role == "security_office"
    services.complete_task(revise.id, world.users.security, {"note": "已补录事故记录"})
    with services.uow() as uow:
        row = uow.session.get(AnnualAssessment, submitted.id)
        college = _unit(row.sheet, world.orgs.college)
        assert row.status == "submitted" and college["total"] >= 60
        assert [v["key"] for v in college["vetoes"]] == ["accident"]
        assert college["vetoes"][0]["records"][0]["id"] == accident.id
        assert (college["eligible"], college["verdict"], college["heads"][0]["verdict"]) == (False, "不合格", "不合格")
    _do(services, world.users.leader, {"decision": "sign", "opinion": "同意"}, bpmn_id="review_assessment")
    with services.uow() as uow:
        row = uow.session.get(AnnualAssessment, submitted.id)
        assert (row.status, row.signed_by_id) == ("signed", world.users.leader)
        assert uow.session.get(ProcessInstance, row.instance_id).status == InstanceState.COMPLETED
