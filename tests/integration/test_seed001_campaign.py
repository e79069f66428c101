"""Seed 001's campaign end to end with a moved clock.

The notice (兰州现代职业学院, 11-08) runs 自查自纠 until 11-15, 整改完善 until 12-15 and 督导检查 until 12-30, and asks
for the 隐患问题统计表 on 11-22, 12-06, 12-20 and 01-03. Here: the shipped seed 001 checklist over three units; the
stages open on their dates and not before; one unit misses the self-check deadline, its task climbs to its head and
the security office chases it; hazards found by the self-checks and by the joint inspection (one of them 应发现未发现)
go round the rectification loop; on each report date the stored table matches the ledger at that moment.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.campaigns import checklists, coverage
from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import Campaign
from engine.campaigns.service import Campaigns
from engine.infra.config import DEFAULT_BPMN_DIR
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process import escalation
from engine.process.models import HumanTask, TaskEscalation
from engine.rectification import ledger
from engine.rectification.models import Hazard
from engine.reports.models import StatisticsReport
from engine.reports.snapshots import generate_due_reports

STAGES = {"self_check": {"start": "2026-11-09", "end": "2026-11-15"},
          "joint_inspection": {"start": "2026-11-16", "end": "2026-11-30"},
          "rectification": {"start": "2026-11-16", "end": "2026-12-15"},
          "supervision": {"start": "2026-12-16", "end": "2026-12-30"},
          "report_dates": ["2026-11-22", "2026-12-06", "2026-12-20", "2027-01-03"]}


def china(year_month_day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(year_month_day), datetime.min.time().replace(hour=hour, minute=minute),
                            CHINA).astimezone(timezone.utc)


@pytest.fixture
def seed001(services, world):
    """World plus unit heads, a 保卫处 staff member and an inspector, and the shipped seed 001 checklist."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        users = {}
        for name, org_id, role in (("head_bw", world.orgs.security_unit, "department_head"),
                                   ("staff_bw", world.orgs.security_unit, "department_staff"),
                                   ("head_hq", world.orgs.logistics, "department_head"),
                                   ("inspector", world.orgs.school, "inspector")):
            org = s.get(OrgNode, org_id)
            users[name] = accounts.add_user(s, name, name, "pw", org, now, roles=[(role, org)]).id
        s.get(OrgNode, world.orgs.logistics).head_user_id = users["head_hq"]
        csv = Path(DEFAULT_BPMN_DIR) / "checklists" / "seed001_twelve_areas.csv"
        template = checklists.import_checklist(s, csv.read_bytes(), csv.name, "校园安全专项整治（seed 001）", now)
        uow.commit()
    return Campaigns(services), template.id, users


def _open(services, bpmn_id, org_id=None):
    with services.uow() as uow:
        stmt = select(HumanTask).where(HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready")
        if org_id is not None:
            stmt = stmt.where(HumanTask.candidate_org_id == org_id)
        return list(uow.session.scalars(stmt.order_by(HumanTask.id)))


def _one(services, bpmn_id, org_id=None):
    tasks = _open(services, bpmn_id, org_id)
    assert len(tasks) == 1, (bpmn_id, org_id, [t.bpmn_id for t in tasks])
    return tasks[0]


def _unit_items(services, campaign_id, org_id):
    with services.uow() as uow:
        s = uow.session
        campaign = s.get(Campaign, campaign_id)
        return [i.id for i in items_for_unit(campaign.template, s.get(OrgNode, org_id))]


def _self_check(services, campaigns, campaign_id, unit, staff, head, hazard: dict | None = None):
    items = _unit_items(services, campaign_id, unit)
    results = [{"item_id": i, "result": "checked"} for i in items[1:]]
    if hazard:
        results.append({"item_id": items[0], "result": "hazard", "location": hazard["location"], "hazard": hazard})
    else:
        results.append({"item_id": items[0], "result": "na", "note": "本单位无此场所"})
    campaigns.record_item_results(staff, campaign_id, unit, results)
    services.complete_task(_one(services, "work_checklist", unit).id, staff, {"remarks": "已逐项自查"})
    services.complete_task(_one(services, "sign_self_check", unit).id, head, {"signer_name": "负责人"})
    return items


def _hazard_task(services, hazard_id, bpmn_id):
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(
            HumanTask.hazard_id == hazard_id, HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready")).one()


def _register_and_fix(services, world, hazard_id, fixer):
    with services.uow() as uow:
        unit_id = uow.session.get(Hazard, hazard_id).unit_id
    services.complete_task(_hazard_task(services, hazard_id, "register_hazard").id, world.users.security,
                           {"grade": "general", "responsible_unit_id": unit_id, "responsible_person": "负责人",
                            "deadline": "2026-12-10", "onsite_fix": True})
    services.complete_task(_hazard_task(services, hazard_id, "onsite_fix").id, fixer,
                           {"measures": "已整改", "completion": "已完成"})


def _accept_and_close(services, world, hazard_id):
    services.complete_task(_hazard_task(services, hazard_id, "accept_rectification").id, world.users.security,
                           {"accepted": True, "opinion": "整改到位"})
    services.complete_task(_hazard_task(services, hazard_id, "close_hazard").id, world.users.security2,
                           {"closing_note": "同意销号"})


def _report_matches_the_ledger(services, world, campaign_id, day: str) -> dict:
    """Generate on the report date's evening; the stored table equals the ledger of that moment, line by line."""
    generate_due_reports(services)
    with services.uow() as uow:
        s = uow.session
        report = s.scalars(select(StatisticsReport).where(StatisticsReport.campaign_id == campaign_id,
                                                          StatisticsReport.report_date == date.fromisoformat(day))).one()
        figures, totals = report.figures, report.figures["totals"]
        school = world.orgs.school
        assert totals["total"] == len(ledger.ledger_rows(s, school))
        assert totals["open"] == len(ledger.ledger_rows(s, school, status="open"))
        assert totals["closed"] == len(ledger.ledger_rows(s, school, status="closed"))
        for row in figures["by_category"]:
            assert row["total"] == len(ledger.ledger_rows(s, school, category=row["key"])), row["key"]
        for row in figures["by_unit"]:
            assert row["total"] == len(ledger.ledger_rows(s, row["key"])), row["label"]
        overdue_now = s.scalar(select(func.count(func.distinct(HumanTask.hazard_id))).where(
            HumanTask.state == "ready", HumanTask.due_at < services.clock.now(), HumanTask.hazard_id.is_not(None)))
        assert totals["overdue"] == overdue_now
    return figures


def test_seed001_campaign_runs_its_stages_on_their_dates_and_reports_on_its_four_dates(
        services, world, seed001, clock):
    campaigns, template_id, users = seed001
    college, security_unit, logistics = world.orgs.college, world.orgs.security_unit, world.orgs.logistics
    clock.set(china("2026-11-09", 9))
    campaign = campaigns.create_campaign(world.users.security, "校园安全专项整治", template_id,
                                         [college, security_unit, logistics], STAGES)
    assert len(_open(services, "work_checklist")) == 3

    # 自查自纠: two units return in time, 机电工程学院 with a hazard it fixes on the spot.
    _self_check(services, campaigns, campaign.id, college, world.users.staff, world.users.head,
                hazard={"location": "实训楼A102", "problem": "灭火器过期", "category": "消防", "checked_at": "2026-11-09"})
    _self_check(services, campaigns, campaign.id, security_unit, users["staff_bw"], users["head_bw"])
    for review in _open(services, "review_self_check", world.orgs.school):
        services.complete_task(review.id, world.users.security, {"decision": "accept"})
    with services.uow() as uow:
        h1 = uow.session.scalars(select(Hazard.id).where(Hazard.campaign_id == campaign.id)).one()
    clock.set(china("2026-11-10", 10))
    _register_and_fix(services, world, h1, world.users.staff)

    # 后勤管理处 misses 11-15 18:00: the campaign chases it, and its own task climbs to its head.
    clock.set(china("2026-11-15", 17))
    assert services.fire_due_timers().fired == 0
    assert _open(services, "joint_inspection") == []
    clock.set(china("2026-11-16", 9))
    services.fire_due_timers()
    chase = _one(services, "chase_missing_returns", world.orgs.school)
    late = _one(services, "work_checklist", logistics)
    escalation.escalate_overdue(services)
    with services.uow() as uow:
        rungs = uow.session.scalars(select(TaskEscalation.rung).where(TaskEscalation.task_id == late.id)).all()
        assert uow.session.get(HumanTask, late.id).overdue_at is not None
    assert rungs == ["unit_head"]
    with services.uow() as uow:
        head_view, _ = escalation.escalated_to(uow.session, accounts.get_user(uow.session, users["head_hq"]))
    assert [t.id for t, _ in head_view] == [late.id]
    services.complete_task(chase.id, world.users.security, {"action": "电话催报后勤管理处"})

    clock.set(china("2026-11-17", 10))
    hq_items = _self_check(services, campaigns, campaign.id, logistics, world.users.logistics_staff, users["head_hq"],
                           hazard={"location": "第一食堂", "problem": "健康证过期", "category": "食品卫生",
                                   "checked_at": "2026-11-17"})
    services.complete_task(_one(services, "review_self_check", world.orgs.school).id, world.users.security,
                           {"decision": "accept"})
    services.complete_task(_one(services, "review_returns").id, world.users.security, {"summary": "全部上报"})

    # 联检联查 (open since 11-16): the team finds a hazard on an item 后勤管理处 signed off as fine.
    finding = campaigns.report_finding(users["inspector"], campaign.id, logistics,
                                       {"location": "第二食堂", "problem": "燃气报警器失效", "category": "消防",
                                        "source": "joint_inspection", "checked_at": "2026-11-17"},
                                       item_id=hq_items[1])
    with services.uow() as uow:
        missed = coverage.missed_for_unit(uow.session, logistics)
        h2 = uow.session.scalars(select(Hazard.id).where(Hazard.campaign_id == campaign.id,
                                                         Hazard.unit_id == logistics, Hazard.id != finding.id)).one()
    assert [(m.hazard_id, m.level, m.person_id) for m in missed] == [(finding.id, "school",
                                                                      world.users.logistics_staff)]
    services.complete_task(_one(services, "joint_inspection").id, users["inspector"], {"summary": "全校联检"})

    # Report date 1 (Sunday 11-22): three hazards, none closed yet.
    clock.set(china("2026-11-22", 19))
    first = _report_matches_the_ledger(services, world, campaign.id, "2026-11-22")
    assert {k: first["totals"][k] for k in ("total", "open", "closed", "found_in_period")} == {
        "total": 3, "open": 3, "closed": 0, "found_in_period": 3}
    assert {r["key"]: r["total"] for r in first["by_source"] if r["total"]} == {"self_check": 2,
                                                                               "joint_inspection": 1}

    clock.set(china("2026-11-24", 10))
    _accept_and_close(services, world, h1)
    _register_and_fix(services, world, h2, world.users.logistics_staff)
    clock.set(china("2026-12-01", 10))
    _accept_and_close(services, world, h2)
    _register_and_fix(services, world, finding.id, world.users.logistics_staff)

    # Report date 2: two closed in its period (11-23 .. 12-06).
    clock.set(china("2026-12-06", 19))
    second = _report_matches_the_ledger(services, world, campaign.id, "2026-12-06")
    assert {k: second["totals"][k] for k in ("total", "open", "closed", "closed_in_period", "found_in_period")} == {
        "total": 3, "open": 1, "closed": 2, "closed_in_period": 2, "found_in_period": 0}

    # 整改完善 ends 12-15 with one hazard open; 督导检查 opens on 12-16, not before.
    clock.set(china("2026-12-15", 23))
    services.fire_due_timers()
    assert _open(services, "supervision_check") == []
    clock.set(china("2026-12-16", 9))
    services.fire_due_timers()
    services.complete_task(_one(services, "supervision_check", world.orgs.bureau).id, world.users.supervisor,
                           {"report": "抽查三个单位，一处隐患待验收"})

    # Report date 3: unchanged counts, nothing closed in its period; the table was not made twice.
    clock.set(china("2026-12-20", 19))
    third = _report_matches_the_ledger(services, world, campaign.id, "2026-12-20")
    assert (third["totals"]["open"], third["totals"]["closed"], third["totals"]["closed_in_period"]) == (1, 2, 0)

    clock.set(china("2026-12-28", 10))
    _accept_and_close(services, world, finding.id)
    services.complete_task(_one(services, "closing_summary", world.orgs.school).id, world.users.leader,
                           {"summary": "专项整治完成，隐患全部销号"})

    # Report date 4 (next year): everything closed; four tables in all, however often the job runs.
    clock.set(china("2027-01-03", 19))
    fourth = _report_matches_the_ledger(services, world, campaign.id, "2027-01-03")
    assert (fourth["totals"]["open"], fourth["totals"]["closed"], fourth["totals"]["closed_in_period"]) == (0, 3, 1)
    generate_due_reports(services)
    with services.uow() as uow:
        s = uow.session
        dates = s.scalars(select(StatisticsReport.report_date).where(StatisticsReport.campaign_id == campaign.id)
                          .order_by(StatisticsReport.report_date)).all()
        assert s.get(Campaign, campaign.id).status == "closed"
    assert [d.isoformat() for d in dates] == STAGES["report_dates"]
