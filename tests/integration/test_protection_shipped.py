"""Moving hazards' running rectifications onto a new version of the shipped diagram (boundary timer included)."""
from __future__ import annotations

from sqlalchemy import select

from engine.process.migration import migrate
from engine.process.models import ProcessInstance
from tests.admins import add_admin
from tests.integration.test_campaigns import (  # noqa: F401 (campaign_world is a fixture)
    STAGES,
    _items,
    _self_check,
    _tasks,
    campaign_world,
)
from tests.integration.test_deployment import _with_head_review

REGISTER = {"grade": "general", "responsible_person": "x", "deadline": "2026-11-20"}
PLAN = {"plan_owner": "x", "plan_measures": "y", "plan_deadline": "2026-11-20", "plan_contingency": "z"}


def test_rectifications_waiting_at_unchanged_tasks_move_with_their_timer(services, world, report_hazard, do,
                                                                          open_tasks, bpmn_dir):
    waiting = report_hazard()
    rectifying = report_hazard()
    register = dict(REGISTER, responsible_unit_id=world.orgs.college)
    do(rectifying.id, "register_hazard", world.users.security, register)
    do(rectifying.id, "rectification_plan", world.users.head, PLAN)
    with services.uow() as uow:
        before = {i.id: i.next_timer_at for i in uow.session.scalars(select(ProcessInstance))}
    admin = add_admin(services, world)
    v2 = services.deploy_definition(_with_head_review((bpmn_dir / "hazard_rectification.bpmn").read_bytes()),
                                    "hazard_rectification.bpmn", admin, replace=True)
    report = migrate(services, v2.id, admin, dry_run=False)
    assert [(m.safe, m.moved, m.reasons) for m in report.instances] == [(True, True, [])] * 2
    with services.uow() as uow:
        after = {i.id: (i.definition_id, i.next_timer_at) for i in uow.session.scalars(select(ProcessInstance))}
    # The rectify task's overdue timer keeps its due time; the instance now runs on v2.
    assert after == {i: (v2.id, due) for i, due in before.items()}
    do(waiting.id, "register_hazard", world.users.security, register)
    do(waiting.id, "rectification_plan", world.users.head, PLAN)
    for hazard in (waiting, rectifying):
        do(hazard.id, "rectify", world.users.staff, {"measures": "m", "completion": "c"})
        assert [(t.bpmn_id, t.candidate_role) for t in open_tasks(hazard.id)] == [("head_review", "inspector")]


def test_a_running_campaign_moves_with_its_waiting_subprocess(services, world, campaign_world, bpmn_dir, clock):
    campaigns, template_id, _extra = campaign_world
    units = [world.orgs.college, world.orgs.security_unit]
    campaign = campaigns.create_campaign(world.users.security, "校园安全专项整治", template_id, units, STAGES)
    clock.advance(hours=1)
    with services.uow() as uow:
        before = uow.session.get(ProcessInstance, campaign.instance_id)
        before = (before.next_timer_at, before.state_json.count('"collect_returns"'))
    source = (bpmn_dir / "campaign.bpmn").read_bytes().replace('name="审定总结"'.encode(),
                                                               'name="审定工作总结"'.encode())
    admin = add_admin(services, world)
    v2 = services.deploy_definition(source, "campaign.bpmn", admin, replace=True)
    assert v2.change_summary == "against v1: renamed: closing_summary 审定总结 → 审定工作总结"
    report = migrate(services, v2.id, admin, dry_run=False)
    assert [(m.instance_id, m.moved, m.reasons) for m in report.instances] == [(campaign.instance_id, True, [])]
    with services.uow() as uow:
        after = uow.session.get(ProcessInstance, campaign.instance_id)
        assert after.definition_id == v2.id and after.next_timer_at == before[0]
    # The units' self-checks report back to the moved campaign, which then asks for the summary review.
    items = _items(services, template_id)
    _self_check(services, campaigns, campaign.id, world.orgs.college, world.users.staff, world.users.head, items[:2])
    _self_check(services, campaigns, campaign.id, world.orgs.security_unit, _extra["staff_bw"], _extra["head_bw"],
                items[:2])
    for review in _tasks(services, "review_self_check"):
        services.complete_task(review.id, world.users.security, {"decision": "accept"})
    assert [t.instance_id for t in _tasks(services, "review_returns")] == [campaign.instance_id]
