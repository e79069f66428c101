"""Seed 004 played through the engine's verbs with a moved clock, on SQLite and PostgreSQL: 每学期至少组织2次应急演练
and 一票否决 in the year's safety assessment.

The school's drill schedule gives the college and logistics their 2026-S2 drills (its window closes 2026-12-16, so the
semester counts in 2026). The college holds both drills but has a safety accident; logistics holds one drill only.
At the year's end the security office submits the assessment and the leader signs it off (annual_assessment.bpmn)."""
from __future__ import annotations

from sqlalchemy import select

from engine.assessment.models import AnnualAssessment
from engine.assessment.service import Assessments
from engine.assessment.sheet import FAIL, PASS, figure_records
from engine.process.lifecycle import InstanceState
from engine.process.models import HumanTask, ProcessInstance
from engine.schedules.service import Schedules, run_due_schedules
from tests.integration.test_assessment_sources import add_head
from tests.integration.test_drills import china, do_drill, open_tasks

ACCIDENT = {"occurred_on": "2026-11-19", "description": "实训中学生手部被车床划伤送医"}


def _unit(sheet: dict, org_id: int) -> dict:
    return next(u for u in sheet["units"] if u["org_id"] == org_id)


def test_seed004_drills_score_per_unit_an_accident_vetoes_its_unit_and_the_leader_signs_the_year_off(
        services, world, clock):
    college, logistics = world.orgs.college, world.orgs.logistics
    logistics_head = add_head(services, logistics, "head_hq")
    Schedules(services).create_schedule(world.users.security, {
        "title": "应急演练", "cadence": "semester", "kind": "drill", "window": "P3M15D",
        "target": {"units": [{"org_id": college}, {"org_id": logistics}]}})
    assert run_due_schedules(services).started == 1
    assert {t.candidate_org_id for t in open_tasks(services)} == {college, logistics}

    # The college holds its two drills; logistics plans and holds the first, then lets the second lapse.
    do_drill(services, world, college, world.users.head, world.users.staff)
    clock.set(china(2026, 11, 16, 9))
    do_drill(services, world, college, world.users.head, world.users.staff2,
             {"held_on": "2026-11-16", "scenario": "宿舍楼火灾疏散", "participants": 40, "summary": "全员参加"})
    do_drill(services, world, logistics, logistics_head, world.users.logistics_staff)
    assert open_tasks(services, college) == [] and len(open_tasks(services, logistics)) == 1

    clock.set(china(2026, 11, 20, 9))
    assessments = Assessments(services)
    accident = assessments.record_accident(world.users.security, {"unit_id": college, **ACCIDENT})

    clock.set(china(2026, 12, 28, 10))  # the drill window closed on 12-16
    submitted = assessments.submit(world.users.security, None, 2026)
    sheet = submitted.sheet
    drills = {u["org_id"]: {i["key"]: i for i in u["items"]}["drills"] for u in sheet["units"]}
    assert (drills[college]["score"], drills[logistics]["score"]) == (10, 5)
    assert drills[college]["figure"]["got"] == 2 and drills[logistics]["figure"] == {
        "got": 1, "of": 2, "rate": 0.5, "count": 2}
    assert drills[world.orgs.security_unit]["score"] == 10, "保卫处 was not given drills: nothing was due"
    _, owed = figure_records(sheet, logistics, "drills")
    assert [r["type"] for r in owed["records"]] == ["drill", "drill_occurrence"]
    assert owed["records"][1]["note"] == "少 1 次（每学期至少 2 次）"

    vetoed, other = _unit(sheet, college), _unit(sheet, logistics)
    assert vetoed["total"] > sheet["scheme"]["pass_mark"], "full marks on drills: only the veto fails it"
    [veto] = vetoed["vetoes"]
    assert (veto["key"], veto["name"]) == ("accident", "发生安全责任事故")
    assert [(r["type"], r["id"], r["label"], r["on"]) for r in veto["records"]] == [
        ("accident", accident.id, ACCIDENT["description"], "2026-11-19")]
    assert (vetoed["eligible"], vetoed["verdict"]) == (False, FAIL)
    assert vetoed["heads"] == [{"user_id": world.users.head, "name": "head", "verdict": FAIL}]
    assert (other["vetoes"], other["eligible"], other["verdict"], other["total"]) == ([], True, PASS, 95)
    assert other["heads"] == [{"user_id": logistics_head, "name": "head_hq", "verdict": PASS}]
    assert sheet["summary"] == {"units": 3, "passed": 2, "vetoed": 1}

    # The leader signs the frozen sheet off: the sign-off process completes.
    with services.uow() as uow:
        [review] = uow.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == "review_assessment",
                                                               HumanTask.state == "ready")).all()
    assert (review.candidate_role, review.candidate_org_id) == ("leader", world.orgs.school)
    services.complete_task(review.id, world.users.leader, {"decision": "sign", "opinion": "同意考核结果"})
    with services.uow() as uow:
        row = uow.session.get(AnnualAssessment, submitted.id)
        assert (row.status, row.signed_by_id) == ("signed", world.users.leader)
        assert _unit(row.sheet, college)["verdict"] == FAIL and _unit(row.sheet, logistics)["verdict"] == PASS
        assert uow.session.get(ProcessInstance, row.instance_id).status == InstanceState.COMPLETED
