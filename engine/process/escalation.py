"""Reminders, overdue marking and escalation up the organisation tree; and what an escalated-to level may do.

The sweep reads only tasks whose `next_escalation_at` is due (indexed), handles each in its own transaction
under a row lock taken with SKIP LOCKED on PostgreSQL (SQLite serialises writers), and re-checks the due time
after locking, so two sweeps at once, or one run twice, perform every step exactly once.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from types import SimpleNamespace

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from engine.infra.db import is_postgres
from engine.infra.errors import InvalidFormData, NotFound
from engine.org import accounts
from engine.org.models import User
from engine.process import lifecycle
from engine.process.calendar import CalendarBook
from engine.process.deadlines import policy_for, reset_schedule
from engine.process.escalation_cas import sweep_with_compare_and_set
from engine.process.escalation_ladder import (
    COORDINATION_RUNGS,
    RUNG_NAMES,
    RUNG_TARGETS,
    EscalationSweep,
    SweepCache,
    Writes,
    advance,
    drain,
    escalate_to,
    resolve_rung,
    task_payload,
)
from engine.process.lifecycle import Transition
from engine.process.models import HumanTask, ProcessInstance, TaskEscalation
from engine.process.projection import parse_due

SWEEP_WORKERS = 8  # each holds one connection for the sweep's duration



_SWEPT_COLUMNS = ("id", "instance_id", "hazard_id", "name", "bpmn_id", "state", "due_at", "candidate_role",
                  "candidate_org_id", "assignee_id", "escalation_step", "escalation_level", "next_escalation_at",
                  "reminded_at", "overdue_at")
_UPDATED_COLUMNS = ("escalation_step", "escalation_level", "next_escalation_at", "reminded_at", "overdue_at")


@lru_cache(maxsize=2)
def _locking_select(postgres: bool):
    """The sweep's per-task read, built once: plain columns, row-locked with SKIP LOCKED on PostgreSQL."""
    table = HumanTask.__table__
    stmt = (select(*(table.c[name] for name in _SWEPT_COLUMNS), ProcessInstance.definition_id)
            .join(ProcessInstance.__table__, ProcessInstance.id == table.c.instance_id)
            .where(table.c.id == bindparam("task_id")))
    return stmt.with_for_update(of=table, skip_locked=True) if postgres else stmt


def _read_locked(conn: Connection, task_id: int) -> SimpleNamespace | None:
    """The task's row, locked; on PostgreSQL straight through the driver (the sweep's hot path)."""
    postgres = conn.dialect.name == "postgresql"
    if not postgres:
        row = conn.execute(_locking_select(False), {"task_id": task_id}).first()
        return SimpleNamespace(**row._asdict()) if row is not None else None
    sql = _locking_sql.get(conn.dialect.name)
    if sql is None:
        sql = _locking_sql[conn.dialect.name] = str(_locking_select(True).compile(dialect=conn.dialect))
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.execute(sql, {"task_id": task_id})
        row = cursor.fetchone()
        names = [d.name for d in cursor.description]
    if row is None:
        return None
    return SimpleNamespace(**{name: value.astimezone(timezone.utc) if isinstance(value, datetime) else value
                              for name, value in zip(names, row)})


_locking_sql: dict[str, str] = {}



def process_task(services, cache: SweepCache, task_id: int, now: datetime, dry_run: bool = False,
                 connection: Connection | None = None) -> list[str] | None:
    """Perform every due step of one task in one transaction; None when it was locked or not due any more."""
    conn = connection if connection is not None else services.session_factory.kw["bind"].connect()
    try:
        with conn.begin() as transaction:
            task = _read_locked(conn, task_id)
            if task is None:
                return None
            if task.next_escalation_at is None or task.next_escalation_at > now:
                return None  # another sweep got here first
            writes = Writes(conn, now)
            actions = advance(writes, cache, task, now)
            writes.write(task.id, {name: getattr(task, name) for name in _UPDATED_COLUMNS})
            if writes._session is not None:
                writes._session.close()  # a session made for a cache miss; the connection's transaction goes on
            if dry_run:
                transaction.rollback()
            return actions
    finally:
        if connection is None:
            conn.close()


def escalate_overdue(services, dry_run: bool = False, batch: int = 500, limit: int | None = None,
                     workers: int | None = None) -> EscalationSweep:
    """One sweep: remind, mark overdue and escalate every task whose next step is due now.

    On PostgreSQL `workers` threads write tasks concurrently (engine/escalation_cas.py); SQLite and dry runs go
    one task at a time."""
    now = services.clock.now()
    result, cache = EscalationSweep(), SweepCache()
    with services.uow() as uow:
        postgres = is_postgres(uow.session)
    if postgres and not dry_run:
        return sweep_with_compare_and_set(services, cache, now, batch, limit, workers or SWEEP_WORKERS)

    # SQLite has one writer, and a dry run must roll each task back: one task at a time, each locked and read
    # in its own transaction.
    def due_ids(after_id: int) -> list[int]:
        with services.uow() as uow:
            return list(uow.session.scalars(
                select(HumanTask.id).where(HumanTask.next_escalation_at <= now, HumanTask.id > after_id)
                .order_by(HumanTask.id).limit(batch)))

    return drain(result, due_ids, lambda task_id: process_task(services, cache, task_id, now, dry_run),
                 batch, limit, id_of=lambda task_id: task_id)



# -- what an escalated-to level may do (who counts as escalated to: engine.process.lifecycle) ------------------
def _require_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise InvalidFormData("a reason is required", [{"field": "reason", "message": "请填写原因"}])
    return reason.strip()


def extend_deadline(services, task_id: int, user_id: int, new_due: date | datetime | str, reason: str) -> HumanTask:
    """Give an escalated task a later due time, with a reason; its reminders and escalation start afresh."""
    reason = _require_reason(reason)
    with services.uow() as uow:
        s, now = uow.session, services.clock.now()
        user = accounts.get_user(s, user_id)
        instance, task = lifecycle.require_locked(s, Transition.EXTEND, user, task_id)
        due = parse_due(new_due, now)
        if due is None or due <= now:
            raise InvalidFormData("the new deadline must lie in the future",
                                  [{"field": "due_at", "message": "新期限必须晚于当前时间"}])
        old = task.due_at
        task.due_at = due
        definition = instance.definition
        reset_schedule(task, policy_for(definition, task.bpmn_id), CalendarBook(s).for_org(task.candidate_org_id), now)
        w = Writes(s.connection(), now, s)
        w.event("TaskDeadlineExtended", task, user.id, old_due_at=old.isoformat() if old else None,
                due_at=due.isoformat(), reason=reason)
        w.notify_workers("deadline_extended", task, task_payload(task, by=user.display_name, reason=reason))
        w.write()
        uow.commit()
        return task


def reassign_task(services, task_id: int, user_id: int, to_user_id: int, reason: str | None = None) -> HumanTask:
    """Give an escalated task to one of its candidates (engine.candidates: its role at its organisation or below)."""
    with services.uow() as uow:
        s, now = uow.session, services.clock.now()
        user = accounts.get_user(s, user_id)
        _, task = lifecycle.require_locked(s, Transition.REASSIGN, user, task_id)
        target = lifecycle.require_recipient(s, Transition.REASSIGN, task, to_user_id)
        previous = task.assignee_id
        task.assignee_id, task.claimed_at = target.id, now
        w = Writes(s.connection(), now, s)
        w.event("TaskReassigned", task, user.id, from_user_id=previous, to_user_id=target.id, reason=reason)
        w.notify("task_reassigned", task_payload(task, by=user.display_name, reason=reason), user_id=target.id)
        w.write()
        uow.commit()
        return task


def take_over_task(services, task_id: int, user_id: int, reason: str | None = None) -> HumanTask:
    """An escalated-to level takes the task into its own hands (it becomes the assignee)."""
    with services.uow() as uow:
        s, now = uow.session, services.clock.now()
        user = accounts.get_user(s, user_id)
        _, task = lifecycle.require_locked(s, Transition.TAKE_OVER, user, task_id)
        previous = task.assignee_id
        task.assignee_id, task.claimed_at = user.id, now
        w = Writes(s.connection(), now, s)
        w.event("TaskTakenOver", task, user.id, from_user_id=previous, reason=reason)
        if previous and previous != user.id:
            w.notify("task_taken_over", task_payload(task, by=user.display_name, reason=reason), user_id=previous)
        w.write()
        uow.commit()
        return task


def request_coordination(services, task_id: int, user_id: int, reason: str, to: str = "leader") -> HumanTask:
    """需上级协调: the unit says the hazard is beyond its means; the leadership group or the bureau gets the task."""
    reason = _require_reason(reason)
    if to not in COORDINATION_RUNGS:
        raise InvalidFormData(f"coordination goes to one of {COORDINATION_RUNGS}", [{"field": "to", "message": to}])
    with services.uow() as uow:
        s, now = uow.session, services.clock.now()
        user = accounts.get_user(s, user_id)
        _, task = lifecycle.require_locked(s, Transition.REQUEST_COORDINATION, user, task_id)
        w = Writes(s.connection(), now, s)
        target = resolve_rung(w, SweepCache(), task, to)
        if target is None:
            raise NotFound(f"this organisation has no {RUNG_NAMES[to]} to coordinate")
        w.event("CoordinationRequested", task, user.id, to=to, reason=reason)
        escalate_to(w, task, target, list(RUNG_TARGETS).index(to) + 1, user.id, reason)
        w.write()
        uow.commit()
        return task


def escalated_to(s: Session, user: User, page: int = 1, per_page: int = 50) -> tuple[list[tuple[HumanTask, TaskEscalation]], int]:
    """The "escalated to me" view: open tasks that reached a level this user stands for, most overdue first."""
    where = (lifecycle.open_clause(), lifecycle.escalated_clause(user))
    base = select(HumanTask, TaskEscalation).join(TaskEscalation, TaskEscalation.task_id == HumanTask.id).where(*where)
    total = s.scalar(select(func.count()).select_from(base.subquery()))
    rows = s.execute(base.order_by(HumanTask.due_at, HumanTask.id).limit(per_page).offset((max(page, 1) - 1) * per_page))
    return [(task, esc) for task, esc in rows], total
