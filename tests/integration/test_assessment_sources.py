"""The assessment's drills and supervision sources (engine/assessment/sources.py), on SQLite and PostgreSQL: each
source's rows per unit with and without records, and the score sheet linking each score to those records.

Drills: a semester schedule (2026-S2, its window closing 2027-01-16) gives every unit its drills; the college holds
two, logistics one, 保卫处 none. Supervision: a school campaign whose 牵头部门 (保卫处) supervises the college and
logistics (seed 001); only the college's 督查报告 is written."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine.assessment.service import live_sheet
from engine.assessment.sheet import figure_records
from engine.assessment.sources import SOURCES, Window
from engine.campaigns import checklists
from engine.campaigns.models import CampaignUnit, SupervisionReport
from engine.campaigns.service import Campaigns
from engine.drills.models import DrillRecord
from engine.org import accounts
from engine.org.models import OrgNode
from engine.schedules.service import Schedules, run_due_schedules
from tests.integration.test_campaign_shapes import LEAD_CSV, SEED001, _ready, _self_checks
from tests.integration.test_campaign_shapes import china as china_day
from tests.integration.test_drills import HELD, china, do_drill


def add_head(services, org_id: int, name: str) -> int:
    with services.uow() as uow:
        s = uow.session
        org = s.get(OrgNode, org_id)
        user = accounts.add_user(s, name, name, "pw", org, services.clock.now(), roles=[("department_head", org)])
        uow.commit()
        return user.id


def _rows(services, world, key: str, year: int) -> dict[int, list[tuple]]:
    """The source's rows per unit of the world's school for the year, as of now: (type, id, got, of)."""
    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        window = Window(date(year, 1, 1), date(year, 12, 31), services.clock.now(), school)
        units = [world.orgs.college, world.orgs.logistics, world.orgs.security_unit]
        found = SOURCES[key].fetch(s, units, window, {})
    return {u: [(r["type"], r["id"], r["got"], r["of"]) for r in found[u]] for u in units}


def _sheet(services, world, year: int) -> dict:
    with services.uow() as uow:
        s = uow.session
        return live_sheet(s, s.get(OrgNode, world.orgs.school), year, services.clock.now())


@pytest.fixture
def drills_semester(services, world, clock):
    """2026-S2 drills: the college holds both, logistics the first only, 保卫处 none; returns the occurrence's ids."""
    logistics_head = add_head(services, world.orgs.logistics, "head_hq")
    schedule = Schedules(services).create_schedule(world.users.security, {
        "title": "应急演练", "cadence": "semester", "kind": "drill", "target": {"all_units": True}})
    run_due_schedules(services)
    do_drill(services, world, world.orgs.college, world.users.head, world.users.staff)
    do_drill(services, world, world.orgs.college, world.users.head, world.users.staff2, {**HELD, "participants": 40})
    do_drill(services, world, world.orgs.logistics, logistics_head, world.users.logistics_staff, evaluation="pass")
    return schedule.id


def test_drills_held_counts_each_drill_against_two_a_semester_once_its_window_has_closed(
        services, world, clock, drills_semester):
    assert all(rows == [] for rows in _rows(services, world, "drills_held", 2026).values()), \
        "the semester's window closes in 2027: nothing is due in 2026"
    clock.set(china(2027, 1, 10))
    assert all(rows == [] for rows in _rows(services, world, "drills_held", 2027).values()), "not closed yet"

    clock.set(china(2027, 1, 20))
    rows = _rows(services, world, "drills_held", 2027)
    with services.uow() as uow:
        held = {(d.unit_id, d.sequence): d.id for d in uow.session.scalars(select(DrillRecord))}
    assert rows[world.orgs.college] == [("drill", held[(world.orgs.college, 1)], 1, 1),
                                        ("drill", held[(world.orgs.college, 2)], 1, 1)]
    [(kind, occurrence_id, got, of)] = rows[world.orgs.security_unit]
    assert (kind, got, of) == ("drill_occurrence", 0, 2), "no drill held: both are owed"
    assert rows[world.orgs.logistics] == [("drill", held[(world.orgs.logistics, 1)], 1, 1),
                                          ("drill_occurrence", occurrence_id, 0, 1)]

    sheet = _sheet(services, world, 2027)
    scores = {u["org_id"]: {i["key"]: i["score"] for i in u["items"]}["drills"] for u in sheet["units"]}
    assert scores == {world.orgs.college: 10, world.orgs.logistics: 5, world.orgs.security_unit: 0}
    _, drills = figure_records(sheet, world.orgs.logistics, "drills")
    assert drills["figure"] == {"got": 1, "of": 2, "rate": 0.5, "count": 2}
    first, owed = drills["records"]
    assert (first["note"], first["semester"], first["unit_id"]) == ("评估：合格", "2026-S2", world.orgs.logistics)
    assert (owed["note"], owed["schedule_id"], owed["on"]) == ("少 1 次（每学期至少 2 次）", drills_semester,
                                                              "2027-01-16")


def test_supervision_reports_count_each_lead_office_check_once_the_stage_has_ended(services, world, clock):
    bw_head = add_head(services, world.orgs.security_unit, "head_bw")
    logistics_head = add_head(services, world.orgs.logistics, "head_hq")
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, LEAD_CSV, "seed001.csv", "专项整治（牵头部门）",
                                               services.clock.now()).id
        uow.commit()
    campaigns = Campaigns(services)
    campaign = campaigns.create_campaign(world.users.security, "2026年校园安全专项整治", template,
                                         [world.orgs.college, world.orgs.logistics], SEED001,
                                         supervised_by="lead_units")
    clock.set(china_day("2026-11-09", 9))
    services.fire_due_timers()
    people = {world.orgs.college: (world.users.staff, world.users.head),
              world.orgs.logistics: (world.users.logistics_staff, logistics_head)}
    _self_checks(services, campaigns, campaign.id, people, lambda _unit: world.users.security)
    (summary,) = _ready(services, campaign.id, "review_returns")
    services.complete_task(summary.id, world.users.security, {"summary": "两个单位全部上报"})
    clock.set(china_day("2026-12-16", 9))
    services.fire_due_timers()
    tasks = {t.name: t for t in _ready(services, campaign.id, "supervision_check")}
    assert set(tasks) == {"督导检查：机电工程学院（保卫处）", "督导检查：后勤管理处（保卫处）"}
    services.complete_task(tasks["督导检查：机电工程学院（保卫处）"].id, bw_head, {"report": "各环节落实到位"})

    clock.set(china_day("2026-12-30", 9))
    assert all(rows == [] for rows in _rows(services, world, "supervision_reports", 2026).values()), \
        "the supervision stage has not ended"
    clock.set(china_day("2026-12-31", 9))
    rows = _rows(services, world, "supervision_reports", 2026)
    with services.uow() as uow:
        s = uow.session
        [report] = s.scalars(select(SupervisionReport)).all()
        logistics_cu = s.scalars(select(CampaignUnit).where(CampaignUnit.org_id == world.orgs.logistics)).one().id
    assert rows == {world.orgs.college: [("supervision_report", report.id, 1, 1)],
                    world.orgs.logistics: [("campaign_unit", logistics_cu, 0, 1)],
                    world.orgs.security_unit: []}, "the lead office supervises; it is not supervised"
    assert all(r == [] for r in _rows(services, world, "supervision_reports", 2027).values()), "another year"

    sheet = _sheet(services, world, 2026)
    scores = {u["org_id"]: {i["key"]: i["score"] for i in u["items"]}["supervision"] for u in sheet["units"]}
    assert scores == {world.orgs.college: 5, world.orgs.logistics: 0, world.orgs.security_unit: 5}
    _, college = figure_records(sheet, world.orgs.college, "supervision")
    assert [(r["id"], r["campaign_id"], r["note"]) for r in college["records"]] == [
        (report.id, campaign.id, "保卫处督查报告")]
    _, logistics = figure_records(sheet, world.orgs.logistics, "supervision")
    assert [(r["org_id"], r["note"], r["on"]) for r in logistics["records"]] == [
        (world.orgs.logistics, "保卫处未形成督查报告", "2026-12-30")]
