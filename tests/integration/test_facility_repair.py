"""设施报修 (bpmn/facility_repair.bpmn): a shipped process with no subject code, started like any catalogue process
and walked through every role's inbox — reporter's head, security office, the repairing unit, the head again."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.infra.errors import InvalidFormData, NotAllowed
from engine.org import accounts
from engine.process import instance_views
from engine.process.instructions import instructions_for
from engine.process.models import HumanTask, ProcessInstance
from engine.process.tasklist import inbox_clause

REPORT = {"location": "实训楼B103东侧走廊", "facility": "灭火器", "description": "压力表指针在红区，已失效",
          "urgency": "urgent"}


def inbox(services, user_id: int, view: str = "groups") -> list[HumanTask]:
    with services.uow() as uow:
        user = accounts.get_user(uow.session, user_id)
        return list(uow.session.scalars(select(HumanTask).where(inbox_clause(user, view, services.clock.now()))
                                        .order_by(HumanTask.id)))


def only_open_task(services, instance_id: int) -> HumanTask:
    with services.uow() as uow:
        rows = list(uow.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.state == "ready")))
    assert len(rows) == 1, f"expected one open task, found {[r.bpmn_id for r in rows]}"
    return rows[0]


def status(services, instance_id: int) -> str:
    with services.uow() as uow:
        return uow.session.get(ProcessInstance, instance_id).status


def test_it_is_in_the_catalogue_of_department_users_only(services, world):
    u = world.users
    with services.uow() as uow:
        s = uow.session

        def keys(user_id):
            return {e.definition.key for e in instance_views.catalogue(s, accounts.get_user(s, user_id),
                                                                         services.hooks)}
        assert "facility_repair" in keys(u.staff) and "facility_repair" in keys(u.head)
        assert "facility_repair" not in keys(u.security)
        entry = instance_views.startable(s, accounts.get_user(s, u.staff), "facility_repair", services.hooks)
        assert entry.start_form["title"] == "设施报修"
    assert services.hooks.subject_owned("facility_repair") is None
    with pytest.raises(NotAllowed):
        services.start_process("facility_repair", u.security, REPORT)
    with pytest.raises(InvalidFormData) as refused:
        services.start_process("facility_repair", u.staff, {**REPORT, "urgency": "whenever"})
    assert "urgency" in {e["field"] for e in refused.value.errors}


def test_a_repair_request_walks_every_inbox_to_the_end(services, world):
    u, o = world.users, world.orgs
    instance = services.start_process("facility_repair", u.staff, REPORT, "报修-001")

    # The reporter's head approves: in his group inbox, not in the security office's.
    approve = only_open_task(services, instance.id)
    assert (approve.bpmn_id, approve.candidate_role, approve.candidate_org_id) == (
        "approve_repair", "department_head", o.college)
    assert approve.id in [t.id for t in inbox(services, u.head)]
    assert approve.id not in [t.id for t in inbox(services, u.security)]
    with pytest.raises(NotAllowed):
        services.complete_task(approve.id, u.staff, {"repair_approved": True})
    services.complete_task(approve.id, u.head, {"repair_approved": True})

    # The security office of the school dispatches it to the unit that repairs it.
    dispatch = only_open_task(services, instance.id)
    assert (dispatch.bpmn_id, dispatch.candidate_role, dispatch.candidate_org_id) == (
        "dispatch_repair", "security_office", o.school)
    assert dispatch.due_at is not None
    assert dispatch.id in [t.id for t in inbox(services, u.security2)]
    services.claim_task(dispatch.id, u.security)
    services.complete_task(dispatch.id, u.security, {"responsible_unit_id": o.logistics,
                                                      "dispatch_notes": "当天更换"})

    # The responsible unit's staff repair it; the task is due and will escalate like any other.
    repair = only_open_task(services, instance.id)
    assert (repair.bpmn_id, repair.candidate_role, repair.candidate_org_id) == (
        "do_repair", "department_staff", o.logistics)
    assert repair.due_at is not None and repair.next_escalation_at is not None
    assert repair.id in [t.id for t in inbox(services, u.logistics_staff)]
    assert repair.id not in [t.id for t in inbox(services, u.staff)]
    with services.uow() as uow:
        html = instructions_for(services.runtime, uow.session.get(HumanTask, repair.id))
    assert "<h2>灭火器（实训楼B103东侧走廊）</h2>" in html and "<strong>紧急报修</strong>" in html
    assert "维修要求：当天更换" in html
    with pytest.raises(InvalidFormData):
        services.complete_task(repair.id, u.logistics_staff, {"repair_work": "已更换"})
    services.complete_task(repair.id, u.logistics_staff, {"repair_work": "已更换新灭火器",
                                                          "repaired_at": "2026-11-02"})

    # The reporter's head confirms, and the instance is done with nothing left open.
    confirm = only_open_task(services, instance.id)
    assert (confirm.bpmn_id, confirm.candidate_role, confirm.candidate_org_id) == (
        "confirm_repair", "department_head", o.college)
    assert confirm.id in [t.id for t in inbox(services, u.head)]
    services.complete_task(confirm.id, u.head, {"confirm_opinion": "已修复"})
    assert status(services, instance.id) == "completed"
    assert not [t for t in inbox(services, u.head) if t.instance_id == instance.id]


def test_a_rejected_request_needs_an_opinion_and_ends_without_dispatch(services, world):
    u = world.users
    instance = services.start_process("facility_repair", u.staff, {**REPORT, "urgency": "normal"})
    approve = only_open_task(services, instance.id)
    with pytest.raises(InvalidFormData) as refused:
        services.complete_task(approve.id, u.head, {"repair_approved": False})
    assert "approval_opinion" in {e["field"] for e in refused.value.errors}
    services.complete_task(approve.id, u.head, {"repair_approved": False, "approval_opinion": "已列入暑期维修计划"})
    assert status(services, instance.id) == "completed"
    with services.uow() as uow:
        bpmn_ids = list(uow.session.scalars(select(HumanTask.bpmn_id).where(HumanTask.instance_id == instance.id)))
    assert bpmn_ids == ["approve_repair"]
    assert not [t for t in inbox(services, u.security) if t.instance_id == instance.id]
