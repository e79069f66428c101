"""Two escalation sweeps at once against PostgreSQL escalate every task exactly once."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from engine.assembly import assemble
from engine.infra.clock import FixedClock
from engine.infra.db import make_engine, make_session_factory
from engine.infra.timezone import CHINA
from engine.process import escalation
from engine.process.models import Event, HumanTask, OutboxMessage

from .only_rectification import bpmn_dir  # noqa: F401

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-04"}
PLAN = {"plan_owner": "x", "plan_measures": "y", "plan_deadline": "2026-11-04", "plan_contingency": "z"}


@pytest.fixture
def overdue_tasks(services, world, report_hazard, do, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is a PostgreSQL feature; SQLite serialises whole write transactions")
    ids = []
    for i in range(12):
        h = report_hazard(location=f"楼{i}")
        do(h.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
        do(h.id, "rectification_plan", world.users.head, PLAN)
        ids.append(h.id)
    return ids


def _second_process(database_url, bpmn_dir, now):
    """Another scheduler process: its own connection pool and clock over the same database."""
    return assemble(make_session_factory(make_engine(database_url)), FixedClock(now), bpmn_dir)


def test_two_concurrent_sweeps_escalate_each_task_exactly_once(services, overdue_tasks, database_url, bpmn_dir, clock):
    clock.set(datetime(2026, 11, 6, 19, tzinfo=CHINA).astimezone(timezone.utc))  # overdue, levels 1 and 2 due
    other = _second_process(database_url, bpmn_dir, clock.now())
    start = threading.Barrier(2)
    results = []

    def sweep(svc):
        start.wait()
        results.append(escalation.escalate_overdue(svc, batch=5))

    threads = [threading.Thread(target=sweep, args=(svc,)) for svc in (services, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    with services.uow() as uow:
        s = uow.session
        rectify_ids = set(s.scalars(select(HumanTask.id).where(HumanTask.bpmn_id == "rectify")))
        events = Counter((e.task_id, e.kind, e.data.get("level")) for e in s.scalars(
            select(Event).where(Event.kind.in_(["TaskOverdue", "TaskEscalated"]))) if e.task_id in rectify_ids)
        outbox = Counter((m.kind, m.payload["task_id"]) for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind.in_(["task_overdue", "task_escalated"]))))
    assert len(rectify_ids) == 12
    for task_id in rectify_ids:
        assert events[(task_id, "TaskOverdue", None)] == 1
        assert events[(task_id, "TaskEscalated", 1)] == 1
        assert events[(task_id, "TaskEscalated", 2)] == 1
        assert outbox[("task_overdue", task_id)] == 1 and outbox[("task_escalated", task_id)] == 2
    assert sum(len(r.actions) for r in results) == 24, "two steps per task, each done by one sweep only"


def test_a_task_locked_by_another_transaction_is_skipped_not_waited_for(services, overdue_tasks, clock, task_of):
    clock.set(datetime(2026, 11, 5, 9, tzinfo=CHINA).astimezone(timezone.utc))
    held = task_of(overdue_tasks[0], "rectify")
    with services.uow() as uow:
        uow.session.scalars(select(HumanTask).where(HumanTask.id == held.id).with_for_update()).one()
        sweep = escalation.escalate_overdue(services)
        assert sweep.skipped >= 1
        assert not any(f"task {held.id}:" in a for a in sweep.actions)
    later = escalation.escalate_overdue(services)
    assert any(a.startswith(f"task {held.id}: overdue") for a in later.actions)
