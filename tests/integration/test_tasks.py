"""Claiming, delegating and completing tasks: permissions, named errors, and nothing changed on failure."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.infra.errors import (
    InvalidFormData,
    NotAllowed,
    StaleTask,
    TaskAlreadyClaimed,
)
from engine.process import tasklist as queries
from engine.process.models import Event, HumanTask, OutboxMessage, ProcessInstance
from engine.rectification import inbox as hazard_inbox
from engine.rectification.models import Hazard

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}


def _snapshot(services, hazard_id):
    with services.uow() as uow:
        s = uow.session
        hazard = s.get(Hazard, hazard_id)
        instance = s.get(ProcessInstance, hazard.instance_id)
        return (instance.state_json, instance.revision, hazard.status, hazard.unit_id,
                s.scalar(select(func.count()).select_from(Event)),
                s.scalar(select(func.count()).select_from(OutboxMessage)),
                s.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.state == "ready")))


def test_claim_then_another_candidate_cannot_claim_or_complete(services, world, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    services.claim_task(task.id, world.users.security)
    with pytest.raises(TaskAlreadyClaimed, match="already claimed"):
        services.claim_task(task.id, world.users.security2)
    with pytest.raises(TaskAlreadyClaimed, match="claimed by someone else"):
        services.complete_task(task.id, world.users.security2, {**REGISTER, "responsible_unit_id": world.orgs.college})
    assert task_of(hazard.id, "register_hazard").assignee_id == world.users.security


def test_unclaim_returns_the_task_to_the_group(services, world, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    services.claim_task(task.id, world.users.security)
    with pytest.raises(NotAllowed, match="not claimed by you"):
        services.unclaim_task(task.id, world.users.security2)
    services.unclaim_task(task.id, world.users.security)
    assert task_of(hazard.id, "register_hazard").assignee_id is None
    services.claim_task(task.id, world.users.security2)


def test_delegate_only_to_a_colleague_holding_the_role(services, world, report_hazard, task_of, clock):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    with pytest.raises(NotAllowed, match="does not hold the role"):
        services.delegate_task(task.id, world.users.security, world.users.staff)
    services.delegate_task(task.id, world.users.security, world.users.security2, reason="出差")
    assert task_of(hazard.id, "register_hazard").assignee_id == world.users.security2
    with services.uow() as uow:
        inbox = hazard_inbox.inbox(uow.session, _user(uow.session, world.users.security2), "mine", clock.now())
        assert [t.id for t in inbox.items] == [task.id]
        assert uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "task_delegated")).one()


def _user(session, user_id):
    from engine.org.models import User

    return session.get(User, user_id)


def test_someone_outside_the_candidate_group_may_not_work_on_a_task(services, world, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    for outsider in (world.users.staff, world.users.outsider, world.users.leader):
        with pytest.raises(NotAllowed, match="not yours"):
            services.claim_task(task.id, outsider)
        with pytest.raises(NotAllowed, match="not yours"):
            services.complete_task(task.id, outsider, {**REGISTER, "responsible_unit_id": world.orgs.college})


def test_invalid_form_data_names_the_field_and_changes_nothing(services, world, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    before = _snapshot(services, hazard.id)
    with pytest.raises(InvalidFormData, match="deadline") as caught:
        services.complete_task(task.id, world.users.security,
                               {"grade": "general", "responsible_unit_id": world.orgs.college,
                                "responsible_person": "x", "deadline": "not-a-date"})
    assert caught.value.field == "deadline"
    with pytest.raises(InvalidFormData) as caught:
        services.complete_task(task.id, world.users.security, {"grade": "catastrophic"})
    fields = {e["field"] for e in caught.value.errors}
    assert {"grade", "responsible_unit_id", "deadline"} <= fields
    assert _snapshot(services, hazard.id) == before


def test_a_failed_step_leaves_the_data_as_it_was(services, world, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    before = _snapshot(services, hazard.id)
    # Valid by the form, refused by the engine: the unit belongs to another school.
    with pytest.raises(InvalidFormData, match="not part of this school"):
        services.complete_task(task.id, world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.foreign_unit})
    assert _snapshot(services, hazard.id) == before
    assert task_of(hazard.id, "register_hazard").state == "ready"


def test_whoever_rectified_may_not_accept(services, world, report_hazard, do, task_of):
    hazard = report_hazard()
    with services.uow() as uow:  # the rectifier also works in the security office
        from engine.org import accounts
        from engine.org.models import OrgNode, User

        accounts.grant_role(uow.session, uow.session.get(User, world.users.staff), "security_office",
                            uow.session.get(OrgNode, world.orgs.school))
        uow.commit()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    do(hazard.id, "onsite_fix", world.users.staff, {"measures": "清理", "completion": "完成"})
    with pytest.raises(NotAllowed, match="may not do 整改验收"):
        do(hazard.id, "accept_rectification", world.users.staff, {"accepted": True})
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})


def test_completing_a_finished_task_is_a_stale_task(services, world, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    services.complete_task(task.id, world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    with pytest.raises(StaleTask, match="already completed"):
        services.complete_task(task.id, world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})


def test_inboxes_are_scoped_to_role_and_organisation(services, world, report_hazard, do, clock):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    with services.uow() as uow:
        s = uow.session
        counts = {name: queries.inbox_counts(s, _user(s, uid), clock.now())
                  for name, uid in vars(world.users).items()}
    assert counts["head"]["groups"] == 1  # rectification_plan for the college head
    assert counts["logistics_staff"]["groups"] == 0
    assert counts["outsider"]["groups"] == 0
    assert counts["security"]["groups"] == 0
    clock.advance(days=4)
    with services.uow() as uow:
        assert queries.inbox_counts(uow.session, _user(uow.session, world.users.head), clock.now())["overdue"] == 1


def test_hazard_timeline_records_who_did_what(services, world, report_hazard, do):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    with services.uow() as uow:
        timeline = hazard_inbox.hazard_timeline(uow.session, hazard.id)
    kinds = [(e.kind, name) for e, name in timeline]
    assert kinds[0] == ("HazardReported", "staff")
    assert ("TaskCompleted", "security") in kinds
    completed = next(e for e, _ in timeline if e.kind == "TaskCompleted")
    assert completed.data["form"]["grade"] == "general"
