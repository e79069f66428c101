"""大型活动安全预案 (bpmn/event_safety_plan.bpmn), walked through the services on SQLite and PostgreSQL: a unit files
the plan, its head reviews, the security office sends it back once with a reason, the unit files it again, and it is
approved and filed (备案) — each step in the right people's inboxes."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.infra.errors import InvalidFormData, NotAllowed
from engine.org import accounts
from engine.process import instance_views
from engine.process.instructions import instructions_for
from engine.process.models import HumanTask, ProcessInstance
from engine.process.tasklist import inbox_clause

KEY = "event_safety_plan"
PLAN = {"event_name": "2026年冬季田径运动会", "event_date": "2026-12-18", "event_time": "08:30—17:00",
        "place": "东校区田径场", "expected_participants": 3000, "organiser": "机电工程学院",
        "safety_measures": "看台分区入场，设疏散引导员12名", "emergency_plan": "医务室驻场，突发情况由东门疏散",
        "responsible_person": "刘院长"}


def inbox(services, user_id: int, view: str = "groups") -> list[int]:
    with services.uow() as uow:
        user = accounts.get_user(uow.session, user_id)
        return list(uow.session.scalars(select(HumanTask.id).where(inbox_clause(user, view, services.clock.now()))))


def only_open_task(services, instance_id: int) -> HumanTask:
    with services.uow() as uow:
        [row] = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                            HumanTask.state == "ready")).all()
    return row


def test_an_event_plan_is_sent_back_once_then_approved_and_filed(services, world):
    u, o = world.users, world.orgs
    with services.uow() as uow:
        s = uow.session
        keys = {e.definition.key for e in instance_views.catalogue(s, accounts.get_user(s, u.staff), services.hooks)}
    assert KEY in keys and services.hooks.subject_owned(KEY) is None
    with pytest.raises(NotAllowed):
        services.start_process(KEY, u.security, PLAN)
    with pytest.raises(InvalidFormData) as refused:
        services.start_process(KEY, u.staff, {**PLAN, "emergency_plan": ""})
    assert "emergency_plan" in {e["field"] for e in refused.value.errors}
    instance = services.start_process(KEY, u.staff, PLAN)

    review = only_open_task(services, instance.id)
    assert (review.bpmn_id, review.candidate_role, review.candidate_org_id) == (
        "department_review", "department_head", o.college)
    assert review.name == "部门审核：2026年冬季田径运动会" and review.id in inbox(services, u.head)
    services.complete_task(review.id, u.head, {"department_approved": True})

    approval = only_open_task(services, instance.id)
    assert (approval.bpmn_id, approval.candidate_role, approval.candidate_org_id) == (
        "security_approval", "security_office", o.school)
    assert approval.id in inbox(services, u.security2) and approval.id not in inbox(services, u.head)
    with pytest.raises(InvalidFormData) as refused:
        services.complete_task(approval.id, u.security, {"security_approved": False})
    assert "review_reason" in {e["field"] for e in refused.value.errors}
    services.complete_task(approval.id, u.security, {"security_approved": False,
                                                     "review_reason": "缺少看台安全容量核算"})

    # 退回: back to 申报 for the person who filed it, with the reason on the task page.
    revise = only_open_task(services, instance.id)
    assert (revise.bpmn_id, revise.assignee_id) == ("revise_plan", u.staff)
    assert revise.id in inbox(services, u.staff, "mine") and revise.id not in inbox(services, u.staff2, "mine")
    with services.uow() as uow:
        html = instructions_for(services.runtime, uow.session.get(HumanTask, revise.id))
    assert "退回原因：缺少看台安全容量核算" in html
    services.complete_task(revise.id, u.staff, {**PLAN, "safety_measures": "看台按每人0.5米核定容量，分区入场"})

    review = only_open_task(services, instance.id)
    assert review.bpmn_id == "department_review"
    services.complete_task(review.id, u.head, {"department_approved": True})
    approval = only_open_task(services, instance.id)
    services.complete_task(approval.id, u.security2, {"security_approved": True})
    filing = only_open_task(services, instance.id)
    assert (filing.bpmn_id, filing.candidate_role) == ("file_plan", "security_office")
    assert filing.due_at is not None, "filed before the event day"
    services.complete_task(filing.id, u.security2, {"filing_no": "保卫备〔2026〕12号"})
    with services.uow() as uow:
        done = uow.session.get(ProcessInstance, instance.id)
        assert done.status == "completed"
        steps = list(uow.session.scalars(select(HumanTask.bpmn_id).where(HumanTask.instance_id == instance.id)
                                         .order_by(HumanTask.id)))
    assert steps == ["department_review", "security_approval", "revise_plan", "department_review",
                     "security_approval", "file_plan"]
