"""Deadlines and escalation through the services, with a moved clock, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.infra.errors import InvalidFormData, NotAllowed
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.process import escalation
from engine.process.calendar import set_calendar_day
from engine.process.models import Event, HumanTask, OutboxMessage, TaskEscalation
from engine.rectification import inbox as hazard_inbox

from .only_rectification import bpmn_dir  # noqa: F401

REGISTER = {"grade": "general", "responsible_person": "刘院长"}
PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-09-24",
        "plan_contingency": "停用该车床"}


def china(y, m, d, hh=18, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


@pytest.fixture
def rectify_task(services, world, report_hazard, do, task_of, clock):
    """A rectify task of the college due Thursday 2026-09-24 18:00, just before 中秋 and 国庆."""
    clock.set(china(2026, 9, 22, 9))
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "deadline": "2026-09-24", "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    return task_of(hazard.id, "rectify")


def _task_events(services, task_id) -> list[tuple[str, int | None]]:
    with services.uow() as uow:
        return [(e.kind, e.data.get("level")) for e in uow.session.scalars(
            select(Event).where(Event.task_id == task_id, Event.kind.in_(
                ["TaskReminderSent", "TaskOverdue", "TaskEscalated"])).order_by(Event.id))]


def _user(services, user_id):
    with services.uow() as uow:
        return accounts.get_user(uow.session, user_id)


def _escalated_ids(services, user_id) -> list[int]:
    with services.uow() as uow:
        rows, _ = escalation.escalated_to(uow.session, accounts.get_user(uow.session, user_id))
        return [task.id for task, _ in rows]


def test_overdue_task_climbs_the_ladder_across_weekend_and_holidays(services, world, rectify_task, clock):
    task = rectify_task
    assert task.due_at == china(2026, 9, 24)
    assert task.next_escalation_at == china(2026, 9, 23), "reminder one working day before"
    ladder = [
        (china(2026, 9, 23), ("TaskReminderSent", None), None),
        (china(2026, 9, 24), ("TaskOverdue", None), world.users.head),  # and level 1, the unit head
        (china(2026, 9, 29), ("TaskEscalated", 2), world.users.security),  # 中秋 9-25..27 skipped
        (china(2026, 10, 8), ("TaskEscalated", 3), world.users.leader),  # 国庆 10-1..7 skipped
        (china(2026, 10, 10), ("TaskEscalated", 4), world.users.supervisor),  # Saturday 调休 working day
    ]
    seen = []
    for when, event, receiver in ladder:
        clock.set(when - timedelta(minutes=1))
        escalation.escalate_overdue(services)
        assert _task_events(services, task.id) == seen, f"nothing may happen before {when}"
        clock.set(when + timedelta(minutes=1))
        escalation.escalate_overdue(services)
        seen.append(event)
        if event[0] == "TaskOverdue":
            seen.append(("TaskEscalated", 1))
        assert _task_events(services, task.id) == seen
        if receiver is not None:
            assert task.id in _escalated_ids(services, receiver)
    clock.advance(days=60)
    assert escalation.escalate_overdue(services).actions == []
    with services.uow() as uow:
        row = uow.session.get(HumanTask, task.id)
        assert (row.escalation_level, row.next_escalation_at) == (4, None)
        assert row.overdue_at is not None and row.reminded_at is not None
        kinds = [m.kind for m in uow.session.scalars(select(OutboxMessage).where(OutboxMessage.payload.is_not(None)))
                 if m.payload.get("task_id") == task.id]
    assert kinds.count("task_escalated") == 4 and kinds.count("task_overdue") == 1 and kinds.count("task_reminder") == 1
    assert task.id not in _escalated_ids(services, world.users.staff)
    with services.uow() as uow:
        timeline = [e.kind for e, _ in hazard_inbox.hazard_timeline(uow.session, task.hazard_id)]
    assert timeline.count("TaskEscalated") == 4 and "TaskReminderSent" in timeline


def test_a_late_sweep_catches_up_without_a_stale_reminder_and_a_second_run_does_nothing(
        services, world, rectify_task, clock):
    clock.set(china(2026, 9, 29, 19))
    first = escalation.escalate_overdue(services)
    assert _task_events(services, rectify_task.id) == [("TaskOverdue", None), ("TaskEscalated", 1), ("TaskEscalated", 2)]
    assert first.processed >= 1
    again = escalation.escalate_overdue(services)
    assert again.actions == [] and _task_events(services, rectify_task.id)[-1] == ("TaskEscalated", 2)


def test_dry_run_reports_but_changes_nothing(services, rectify_task, clock):
    clock.set(china(2026, 9, 25, 9))
    dry = escalation.escalate_overdue(services, dry_run=True)
    assert any(f"task {rectify_task.id}: overdue" in a for a in dry.actions)
    assert _task_events(services, rectify_task.id) == []
    assert escalation.escalate_overdue(services).actions == dry.actions


def test_completed_tasks_leave_the_sweep(services, world, rectify_task, do, clock):
    do(rectify_task.hazard_id, "rectify", world.users.staff, {"measures": "已加装", "completion": "完成"})
    clock.set(china(2026, 10, 30))
    escalation.escalate_overdue(services)
    assert _task_events(services, rectify_task.id) == []
    with services.uow() as uow:
        assert uow.session.get(HumanTask, rectify_task.id).next_escalation_at is None


def test_escalated_level_extends_the_deadline_with_a_reason_and_the_ladder_restarts(
        services, world, rectify_task, clock):
    clock.set(china(2026, 9, 29, 19))
    escalation.escalate_overdue(services)
    with pytest.raises(NotAllowed, match="not been escalated to you"):
        escalation.extend_deadline(services, rectify_task.id, world.users.leader, "2026-10-20", "配件未到")
    with pytest.raises(InvalidFormData, match="reason"):
        escalation.extend_deadline(services, rectify_task.id, world.users.security, "2026-10-20", " ")
    task = escalation.extend_deadline(services, rectify_task.id, world.users.security, "2026-10-20", "配件未到货")
    assert task.due_at == china(2026, 10, 20)
    assert task.next_escalation_at == china(2026, 10, 19) and task.escalation_step == 0
    clock.set(china(2026, 10, 20, 19))
    escalation.escalate_overdue(services)
    kinds = [k for k, _ in _task_events(services, rectify_task.id)]
    assert kinds.count("TaskOverdue") == 2
    assert kinds.count("TaskEscalated") == 2, "levels already reached are not escalated to again"
    with services.uow() as uow:
        event = uow.session.scalars(select(Event).where(Event.kind == "TaskDeadlineExtended")).one()
        assert event.data["reason"] == "配件未到货" and event.actor_id == world.users.security


def test_escalated_level_reassigns_or_takes_over(services, world, rectify_task, clock, do):
    clock.set(china(2026, 9, 25, 9))
    escalation.escalate_overdue(services)
    with pytest.raises(InvalidFormData, match="does not hold the role"):
        escalation.reassign_task(services, rectify_task.id, world.users.head, world.users.logistics_staff)
    with services.uow() as uow:
        assert uow.session.get(HumanTask, rectify_task.id).assignee_id is None, "a refused choice changes nothing"
    task = escalation.reassign_task(services, rectify_task.id, world.users.head, world.users.staff2, "张老师出差")
    assert task.assignee_id == world.users.staff2
    task = escalation.take_over_task(services, rectify_task.id, world.users.head, "亲自督办")
    assert task.assignee_id == world.users.head
    do(rectify_task.hazard_id, "rectify", world.users.head, {"measures": "已加装", "completion": "完成"})
    assert _escalated_ids(services, world.users.head) == []


def test_unit_marks_a_hazard_beyond_its_means_and_the_leadership_gets_it(services, world, rectify_task):
    with pytest.raises(NotAllowed):
        escalation.request_coordination(services, rectify_task.id, world.users.outsider, "资金不足")
    escalation.request_coordination(services, rectify_task.id, world.users.staff, "需更换整台车床，资金不足", to="leader")
    assert _escalated_ids(services, world.users.leader) == [rectify_task.id]
    escalation.request_coordination(services, rectify_task.id, world.users.staff, "需教育局协调", to="supervisor")
    assert _escalated_ids(services, world.users.supervisor) == [rectify_task.id]
    with services.uow() as uow:
        reasons = {e.rung: e.reason for e in uow.session.scalars(select(TaskEscalation))}
        assert reasons == {"leader": "需更换整台车床，资金不足", "supervisor": "需教育局协调"}
        assert uow.session.scalar(select(func.count()).select_from(Event).where(
            Event.kind == "CoordinationRequested")) == 2


def test_working_day_due_follows_the_organisations_own_calendar(services, world, report_hazard, do, task_of, clock):
    with services.uow() as uow:
        set_calendar_day(uow.session, world.orgs.school, date(2026, 11, 24), "holiday", "校运动会")
        uow.commit()
    clock.set(china(2026, 11, 20, 9))  # Friday
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "deadline": "2026-12-10", "responsible_unit_id": world.orgs.college})
    plan = task_of(hazard.id, "rectification_plan")
    # dueWorkingDays 3: Mon 23, (Tue 24 is the school's sports day), Wed 25, Thu 26.
    assert plan.due_at == china(2026, 11, 26)
