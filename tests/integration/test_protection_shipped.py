"""Moving hazards' running rectifications onto a new version of the shipped diagram (boundary timer included)."""
from __future__ import annotations

from sqlalchemy import select

from engine.process.migration import migrate
from engine.process.models import ProcessInstance
from tests.admins import add_admin
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
