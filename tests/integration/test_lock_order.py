"""One lock order for every verb that touches a task: racing verbs see successes and conflicts, never a deadlock.

The order (engine/process/instances.py): the process instance row first, then the task row. Before it, claim,
unclaim, reassign, extend and take-over locked the task row and then took a key-share lock on the instance
through their event's foreign key, while complete locked the instance and then wrote the task row: PostgreSQL
answered DeadlockDetected (a 500) to one of them. The escalation sweep locks task rows (SKIP LOCKED) and inserts
events referencing the instance; it must not deadlock with a completion either.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text

from engine.infra.errors import ConcurrentUpdate, InvalidFormData, NotAllowed, StaleTask, TaskAlreadyClaimed
from engine.infra.timezone import CHINA
from engine.process import escalation
from engine.process.events import record_event
from engine.process.instances import lock_instance, lock_task
from engine.process.models import Event, HumanTask

from .only_rectification import bpmn_dir  # noqa: F401

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-09-24"}
PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-09-24",
        "plan_contingency": "停用该车床"}
RECTIFY = {"measures": "已加装", "completion": "完成"}
# The engine's refusals of a verb that lost a race, never a 500 at the API: 409 (StaleTask, ConcurrentUpdate,
# TaskAlreadyClaimed), 403 (NotAllowed: e.g. no longer yours) and 422 (InvalidFormData: reassigning the task to
# the person who just claimed it).
CONFLICTS = (StaleTask, ConcurrentUpdate, NotAllowed, TaskAlreadyClaimed, InvalidFormData)


def china(y, m, d, hh=18, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


def _rectify_tasks(services, world, report_hazard, do, task_of, clock, count: int) -> list[HumanTask]:
    """`count` rectify tasks of the college, due Thursday 2026-09-24 18:00 (overdue from the 25th)."""
    clock.set(china(2026, 9, 22, 9))
    tasks = []
    for i in range(count):
        hazard = report_hazard(location=f"实训楼A{i:03d}")
        do(hazard.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
        do(hazard.id, "rectification_plan", world.users.head, PLAN)
        tasks.append(task_of(hazard.id, "rectify"))
    return tasks


def _race(actors: dict[str, list]) -> tuple[Counter, list[str]]:
    """Run each actor's steps in its own thread, all starting together; outcomes counted, unexpected errors kept."""
    outcomes: Counter = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(actors))

    def run(steps):
        start.wait()
        for name, step in steps:
            try:
                step()
                outcome = f"{name}: ok"
            except CONFLICTS as exc:
                outcome = f"{name}: {type(exc).__name__}"
            except Exception as exc:  # noqa: BLE001 - e.g. DeadlockDetected: exactly what the test is looking for
                with lock:
                    unexpected.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=run, args=(steps,)) for steps in actors.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, unexpected


def _completions(services, task_ids) -> Counter:
    with services.uow() as uow:
        return Counter(dict(uow.session.execute(
            select(Event.task_id, func.count()).where(Event.kind == "TaskCompleted", Event.task_id.in_(task_ids))
            .group_by(Event.task_id)).all()))


@pytest.fixture
def postgres_only(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row-lock order is a PostgreSQL matter; SQLite serialises whole write transactions")


def test_racing_task_verbs_answer_successes_and_conflicts_never_a_deadlock(
        postgres_only, services, world, report_hazard, do, task_of, clock):
    tasks = _rectify_tasks(services, world, report_hazard, do, task_of, clock, count=12)
    clock.set(china(2026, 9, 25, 9))
    escalation.escalate_overdue(services)  # the department head is escalated to: may reassign, extend, take over
    users = world.users
    all_outcomes: Counter = Counter()
    for task in tasks:  # one round per task: every verb at once on the same task
        t = task.id

        def complete(user):
            return lambda: services.complete_task(t, user, RECTIFY)

        actors = {
            "staff": [("claim", lambda: services.claim_task(t, users.staff)),
                      ("unclaim", lambda: services.unclaim_task(t, users.staff)),
                      ("claim", lambda: services.claim_task(t, users.staff)),
                      ("complete", complete(users.staff))],
            "staff2": [("claim", lambda: services.claim_task(t, users.staff2)),
                       ("complete", complete(users.staff2)),
                       ("unclaim", lambda: services.unclaim_task(t, users.staff2)),
                       ("complete", complete(users.staff2))],
            "head": [("reassign", lambda: escalation.reassign_task(services, t, users.head, users.staff2, "出差")),
                     ("extend", lambda: escalation.extend_deadline(services, t, users.head, "2026-10-20", "配件未到")),
                     ("take over", lambda: escalation.take_over_task(services, t, users.head, "亲自督办")),
                     ("complete", complete(users.head))],
            "colleague": [("delegate", lambda: services.delegate_task(t, users.staff, users.staff2, "出差")),
                          ("coordinate", lambda: escalation.request_coordination(services, t, users.staff, "资金不足")),
                          ("complete", complete(users.staff2))],
            "completer": [("complete", complete(users.staff)), ("complete", complete(users.staff2)),
                          ("complete", complete(users.staff))],
        }
        outcomes, unexpected = _race(actors)
        assert unexpected == [], f"task {t}: {unexpected}"
        all_outcomes += outcomes
        with services.uow() as uow:
            row = uow.session.get(HumanTask, t)
            if row.state == "ready":  # every completer lost to a claim or take-over: its holder finishes it
                services.complete_task(t, row.assignee_id or users.staff, RECTIFY)
    assert _completions(services, [t.id for t in tasks]) == Counter({t.id: 1 for t in tasks})
    assert all_outcomes["claim: ok"] and all_outcomes["complete: ok"], all_outcomes


def test_escalation_sweep_and_completions_race_without_deadlock(
        postgres_only, services, world, report_hazard, do, task_of, clock):
    tasks = _rectify_tasks(services, world, report_hazard, do, task_of, clock, count=16)
    clock.set(china(2026, 9, 25, 9))  # every task overdue: the sweep writes events for each one
    ids = [t.id for t in tasks]
    chunks = [ids[i::4] for i in range(4)]
    actors = {f"completer{i}": [("complete", (lambda t=t: services.complete_task(t, world.users.staff, RECTIFY)))
                                for t in chunk] for i, chunk in enumerate(chunks)}
    sweeps: list = []
    actors["sweep"] = [("sweep", lambda: sweeps.append(escalation.escalate_overdue(services, batch=4)))
                       for _ in range(3)]
    outcomes, unexpected = _race(actors)
    assert unexpected == [], unexpected
    assert outcomes["complete: ok"] == len(ids), outcomes
    assert _completions(services, ids) == Counter({t: 1 for t in ids})
    assert len(sweeps) == 3


def test_twenty_concurrent_completions_of_one_task_give_one_success_and_nineteen_conflicts(
        services, world, report_hazard, do, task_of, clock):
    (task,) = _rectify_tasks(services, world, report_hazard, do, task_of, clock, count=1)
    people = [world.users.staff, world.users.staff2]
    actors = {f"user{i}": [("complete", lambda u=people[i % 2]: services.complete_task(task.id, u, RECTIFY))]
              for i in range(20)}
    outcomes, unexpected = _race(actors)
    assert unexpected == [], unexpected
    counted = Counter(outcome.split(": ")[1] for outcome in outcomes.elements())
    assert counted["ok"] == 1 and sum(counted.values()) == 20, counted
    assert set(counted) <= {"ok", "StaleTask", "ConcurrentUpdate"}, counted
    assert _completions(services, [task.id]) == Counter({task.id: 1})


def test_instance_and_task_locks_never_hold_up_rows_that_reference_them(
        postgres_only, services, world, report_hazard, task_of):
    """FOR NO KEY UPDATE: an event, outbox row or new task referencing a locked instance or task is inserted at once
    (its foreign-key check takes FOR KEY SHARE), and a transaction that inserted one does not hold up the lock."""
    task = task_of(report_hazard().id, "register_hazard")
    with services.uow() as holder:
        lock_task(holder.session, task.id)
        with services.uow() as other:
            for table, row_id in (("process_instances", task.instance_id), ("human_tasks", task.id)):
                # What PostgreSQL's foreign-key check runs for the insert; NOWAIT refuses instead of waiting.
                other.session.execute(text(f"SELECT 1 FROM {table} WHERE id = :id FOR KEY SHARE NOWAIT"),
                                      {"id": row_id})
    with services.uow() as inserter:
        record_event(inserter.session, services.clock.now(), "CommentAdded", world.users.staff,
                     instance_id=task.instance_id, task_id=task.id)
        inserter.session.flush()  # its foreign keys now hold key-share locks on the instance and the task
        with services.uow() as locker:
            assert lock_instance(locker.session, task.instance_id, skip_locked=True) is not None, \
                "the instance lock must not conflict with a key-share lock"
