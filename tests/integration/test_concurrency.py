"""One transaction per command, row locks that hold until commit, and one winner when two people race."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from engine.infra.errors import StaleTask, TaskAlreadyClaimed
from engine.process.instances import lock_instance
from engine.process.models import Event, HumanTask, OutboxMessage, ProcessInstance

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}


def test_two_people_completing_one_task_one_wins_the_other_gets_a_conflict(services, world, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    data = {**REGISTER, "responsible_unit_id": world.orgs.college}
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def complete(name, user_id):
        barrier.wait()
        try:
            services.complete_task(task.id, user_id, data)
            results[name] = "ok"
        except (StaleTask, TaskAlreadyClaimed) as exc:
            results[name] = exc

    threads = [threading.Thread(target=complete, args=(n, u))
               for n, u in (("a", world.users.security), ("b", world.users.security2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted(type(r).__name__ if not isinstance(r, str) else r for r in results.values())
    assert outcomes[0] == "StaleTask" and outcomes[1] == "ok", results
    with services.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.bpmn_id == "rectification_plan")) == 1
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "TaskCompleted")) == 1


def test_instance_row_lock_holds_until_commit(services, world, report_hazard, task_of, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are a PostgreSQL feature; SQLite serialises whole write transactions")
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    timeline: list[str] = []
    locked = threading.Event()

    def hold_lock():
        with services.uow() as uow:
            lock_instance(uow.session, task.instance_id)
            locked.set()
            time.sleep(0.5)
            timeline.append("holder commits")
            uow.commit()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait()
    services.complete_task(task.id, world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    timeline.append("completion done")
    holder.join()
    assert timeline == ["holder commits", "completion done"]


def test_nothing_is_written_when_the_transaction_rolls_back(services, world, report_hazard, task_of, monkeypatch):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    with services.uow() as uow:
        counts = (uow.session.scalar(select(func.count()).select_from(Event)),
                  uow.session.scalar(select(func.count()).select_from(OutboxMessage)),
                  uow.session.get(ProcessInstance, task.instance_id).state_json)

    def broken_sync(advance):
        raise RuntimeError("disk full while projecting")

    monkeypatch.setattr(services.hooks, "advance_listeners", [*services.hooks.advance_listeners, broken_sync])
    with pytest.raises(RuntimeError, match="disk full"):
        services.complete_task(task.id, world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    with services.uow() as uow:
        assert (uow.session.scalar(select(func.count()).select_from(Event)),
                uow.session.scalar(select(func.count()).select_from(OutboxMessage)),
                uow.session.get(ProcessInstance, task.instance_id).state_json) == counts
    assert task_of(hazard.id, "register_hazard").state == "ready"


def test_each_new_task_writes_an_outbox_message_in_the_same_transaction(services, world, report_hazard):
    hazard = report_hazard()
    with services.uow() as uow:
        messages = list(uow.session.scalars(select(OutboxMessage)))
    assert [(m.kind, m.recipient_role, m.recipient_org_id, m.status) for m in messages] == [
        ("task_created", "security_office", world.orgs.school, "pending")]
    assert messages[0].payload["hazard_id"] == hazard.id


def test_two_concurrent_timer_sweeps_fire_each_timer_once(services, world, report_hazard, do, clock):
    hazards = [report_hazard(location=f"楼{i}") for i in range(3)]
    for h in hazards:
        do(h.id, "register_hazard", world.users.security,
           {**REGISTER, "deadline": "2026-11-03", "responsible_unit_id": world.orgs.college})
        do(h.id, "rectification_plan", world.users.head,
           {"plan_owner": "x", "plan_measures": "y", "plan_deadline": "2026-11-03", "plan_contingency": "z"})
    clock.advance(days=3)
    results = []
    threads = [threading.Thread(target=lambda: results.append(services.fire_due_timers())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.fired for r in results) == 3
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.bpmn_id == "explain_overdue")) == 3
        assert uow.session.scalar(select(func.count()).select_from(Event).where(Event.kind == "TimerFired")) == 3
