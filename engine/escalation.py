"""Reminders, overdue marking and escalation up the organisation tree; and what an escalated-to level may do.

The sweep reads only tasks whose `next_escalation_at` is due (indexed), handles each in its own transaction
under a row lock taken with SKIP LOCKED on PostgreSQL (SQLite serialises writers), and re-checks the due time
after locking, so two sweeps at once, or one run twice, perform every step exactly once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, or_, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from . import accounts, candidates
from .calendar import CalendarBook, WorkCalendar
from .db import is_postgres
from .deadlines import EscalationPolicy, Step, policy_for, reset_schedule, schedule
from .errors import InvalidFormData, NotAllowed, NotFound, StaleTask
from .models import Event, HumanTask, OrgNode, OutboxMessage, ProcessDefinition, ProcessInstance, User
from .models.deadlines import TaskEscalation
from .projection import parse_due

# Who a rung is: (role, which org of the task's ancestry). unit_head prefers the unit's named head.
RUNG_TARGETS = {
    "unit_head": ("department_head", "unit"),
    "security_office": ("security_office", "school"),
    "leader": ("leader", "school"),
    "supervisor": ("supervisor", "bureau"),
}
RUNG_NAMES = {"unit_head": "部门负责人", "security_office": "保卫处", "leader": "分管校领导", "supervisor": "教育局"}
COORDINATION_RUNGS = ("leader", "supervisor")
SWEEP_WORKERS = 8  # each holds one connection for the sweep's duration


@dataclass
class EscalationSweep:
    """What one escalation sweep did (or, in a dry run, would do)."""

    processed: int = 0
    skipped: int = 0
    actions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    rung: str
    role: str
    org_id: int
    user_id: int | None


class _SweepCache:
    """Policies, calendars and org ancestries, kept across the sweep's many small transactions."""

    def __init__(self):
        self.policies: dict[tuple[int, str], EscalationPolicy] = {}
        self.calendars: dict[int | None, WorkCalendar] = {}
        self.ancestry: dict[int, list[tuple[int, str, int | None]]] = {}
        self.schedules: dict[tuple, list] = {}

    def policy(self, w: "_Writes", definition_id: int, bpmn_id: str) -> EscalationPolicy:
        key = (definition_id, bpmn_id)
        if key not in self.policies:
            self.policies[key] = policy_for(w.s.get(ProcessDefinition, definition_id), bpmn_id)
        return self.policies[key]

    def steps(self, w: "_Writes", task) -> list:
        """The task's ladder; tasks share due times (deadlines fall at 18:00 of working days), so compute once."""
        key = (task.definition_id, task.bpmn_id, task.candidate_org_id, task.due_at)
        if key not in self.schedules:
            policy = self.policy(w, task.definition_id, task.bpmn_id)
            self.schedules[key] = schedule(task.due_at, policy, self.calendar(w, task.candidate_org_id))
        return self.schedules[key]

    def calendar(self, w: "_Writes", org_id: int | None) -> WorkCalendar:
        if org_id not in self.calendars:
            self.calendars[org_id] = CalendarBook(w.s).for_org(org_id)
        return self.calendars[org_id]

    def orgs(self, w: "_Writes", org_id: int) -> list[tuple[int, str, int | None]]:
        if org_id not in self.ancestry:
            node = w.s.get(OrgNode, org_id)
            self.ancestry[org_id] = [(n.id, n.kind, n.head_user_id) for n in accounts.ancestors(w.s, node)] if node else []
        return self.ancestry[org_id]


def resolve_rung(w: "_Writes", cache: _SweepCache, task, rung: str) -> Target | None:
    """The role/org (and named head) a rung means for this task; None when the tree has no such level."""
    if task.candidate_org_id is None:
        return None
    role, level = RUNG_TARGETS[rung]
    chain = cache.orgs(w, task.candidate_org_id)  # root first
    kinds = [kind for _, kind, _ in chain]
    if level == "bureau":
        if "school" not in kinds or kinds.index("school") == 0:
            return None
        org_id, head = chain[kinds.index("school") - 1][0], None
    else:
        found = [(oid, h) for oid, kind, h in chain if kind == level]
        if not found:
            return None
        org_id, head = found[-1]
    if (role, org_id) == (task.candidate_role, task.candidate_org_id):
        return None  # escalating a task to the very group that already has it achieves nothing
    return Target(rung, role, org_id, head if rung == "unit_head" else None)


class _Writes:
    """The rows one transaction adds: one multi-row INSERT per table at the end (the sweep does this per task)."""

    def __init__(self, conn: Connection, now: datetime, session: Session | None = None):
        self.conn, self.now, self._session = conn, now, session
        self.events: list[dict] = []
        self.outbox: list[dict] = []
        self.escalations: list[dict] = []
        self._rungs: dict[int, set[str]] = {}

    def event(self, kind: str, task, actor_id: int | None = None, **data) -> None:
        self.events.append({"occurred_at": self.now, "kind": kind, "actor_id": actor_id, "instance_id": task.instance_id,
                            "hazard_id": task.hazard_id, "task_id": task.id, "data": data})

    def notify(self, kind: str, payload: dict, *, user_id: int | None = None, role: str | None = None,
               org_id: int | None = None) -> None:
        self.outbox.append({"created_at": self.now, "kind": kind, "recipient_id": user_id,
                            "recipient_role": None if user_id else role, "recipient_org_id": None if user_id else org_id,
                            "channel": None, "payload": payload, "status": "pending", "attempts": 0,
                            "next_attempt_at": self.now})

    def notify_workers(self, kind: str, task, payload: dict) -> None:
        """Tell whoever holds the task: its assignee, or else its candidate group."""
        self.notify(kind, payload, user_id=task.assignee_id, role=task.candidate_role, org_id=task.candidate_org_id)

    @property
    def s(self) -> Session:
        """An ORM session on the same connection and transaction, made only when a cache misses."""
        if self._session is None:
            self._session = Session(bind=self.conn)
        return self._session

    def rungs_reached(self, task) -> set[str]:
        """Rungs that already have the task (a task never escalated has none: no query needed)."""
        if task.id not in self._rungs:
            self._rungs[task.id] = set() if not task.escalation_level else set(self.conn.execute(
                select(TaskEscalation.rung).where(TaskEscalation.task_id == task.id)).scalars())
        return self._rungs[task.id]

    def _inserts(self):
        for prefix, table, rows in (("e", Event.__table__, self.events), ("o", OutboxMessage.__table__, self.outbox),
                                    ("x", TaskEscalation.__table__, self.escalations)):
            if rows:
                yield prefix, table, rows

    def write(self, task_id: int | None = None, task_values: dict | None = None) -> None:
        """Insert everything collected, and update the task's deadline columns, in as few round trips as possible."""
        conn = self.conn
        if task_id is not None and conn.dialect.name == "postgresql":
            # One statement: the INSERTs ride along as data-modifying CTEs of the UPDATE.
            shape = tuple((prefix, len(rows)) for prefix, _, rows in self._inserts())
            params = {"u_id": task_id, **{f"u_{k}": v for k, v in task_values.items()}}
            for prefix, _, rows in self._inserts():
                for i, row in enumerate(rows):
                    params.update({f"{prefix}{i}_{k}": json.dumps(v, ensure_ascii=False) if k in _JSON_COLUMNS else v
                                   for k, v in row.items()})
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute(_combined_sql(shape, tuple(task_values)), params)
            return
        for _, table, rows in self._inserts():
            conn.execute(insert(table), rows)
        if task_id is not None:
            conn.execute(update(HumanTask.__table__).where(HumanTask.__table__.c.id == task_id).values(task_values))


_TABLES = {"e": Event.__table__, "o": OutboxMessage.__table__, "x": TaskEscalation.__table__}
_COLUMNS = {"e": ("occurred_at", "kind", "actor_id", "instance_id", "hazard_id", "task_id", "data"),
            "o": ("created_at", "kind", "recipient_id", "recipient_role", "recipient_org_id", "channel", "payload",
                  "status", "attempts", "next_attempt_at"),
            "x": ("task_id", "hazard_id", "level", "rung", "target_role", "target_org_id", "target_user_id", "reason",
                  "created_at")}
_JSON_COLUMNS = ("data", "payload")
_statements: dict[tuple, str] = {}


def _combined_sql(shape: tuple, updated: tuple) -> str:
    """UPDATE human_tasks ... with one INSERT CTE per table; the SQL text is built once per shape."""
    key = (shape, updated)
    sql = _statements.get(key)
    if sql is None:
        ctes = []
        for prefix, count in shape:
            table, columns = _TABLES[prefix].name, _COLUMNS[prefix]
            rows = ", ".join("(" + ", ".join(f"%({prefix}{i}_{c})s" + ("::jsonb" if c in _JSON_COLUMNS else "")
                                             for c in columns) + ")" for i in range(count))
            ctes.append(f"add_{table} AS (INSERT INTO {table} ({', '.join(columns)}) VALUES {rows})")
        sets = ", ".join(f"{name} = %(u_{name})s" for name in updated)
        sql = (f"WITH {', '.join(ctes)} " if ctes else "") + f"UPDATE human_tasks SET {sets} WHERE id = %(u_id)s"
        _statements[key] = sql
    return sql


def _task_payload(task, **extra) -> dict:
    return {"task_id": task.id, "name": task.name, "hazard_id": task.hazard_id,
            "due_at": task.due_at.isoformat() if task.due_at else None, **extra}


def _escalate_to(w: _Writes, task, target: Target, level: int, actor_id: int | None, reason: str | None = None) -> bool:
    reached = w.rungs_reached(task)
    task.escalation_level = max(task.escalation_level or 0, level)
    if target.rung in reached:
        return False
    reached.add(target.rung)
    w.escalations.append({"task_id": task.id, "hazard_id": task.hazard_id, "level": level, "rung": target.rung,
                          "target_role": target.role, "target_org_id": target.org_id,
                          "target_user_id": target.user_id, "reason": reason, "created_at": w.now})
    w.event("TaskEscalated", task, actor_id, level=level, rung=target.rung, rung_name=RUNG_NAMES[target.rung],
            target_role=target.role, target_org_id=target.org_id, target_user_id=target.user_id, reason=reason)
    w.notify("task_escalated", _task_payload(task, level=level, rung=RUNG_NAMES[target.rung], reason=reason),
             user_id=target.user_id, role=target.role, org_id=target.org_id)
    return True


def _perform(w: _Writes, cache: _SweepCache, task, step: Step) -> str | None:
    now = w.now
    if step.action == "remind":
        if task.due_at <= now:
            return None  # the sweep ran late: a reminder after the due time only adds noise
        task.reminded_at = now
        w.event("TaskReminderSent", task, due_at=task.due_at.isoformat())
        w.notify_workers("task_reminder", task, _task_payload(task))
        return f"task {task.id}: reminded before due {task.due_at.isoformat()}"
    done = []
    if step.action == "overdue":
        task.overdue_at = now
        w.event("TaskOverdue", task, due_at=task.due_at.isoformat())
        w.notify_workers("task_overdue", task, _task_payload(task))
        done.append("overdue")
    target = resolve_rung(w, cache, task, step.rung)
    if target is not None and _escalate_to(w, task, target, step.level, None):
        done.append(f"escalated to level {step.level} {step.rung} ({target.role}@{target.org_id})")
    return f"task {task.id}: {', '.join(done)}" if done else None


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


def advance(writes: _Writes, cache: _SweepCache, task, now: datetime) -> list[str]:
    """Perform every step of the task's ladder that is due by `now`, collecting the rows to write; returns actions."""
    actions = []
    if task.state != "ready" or task.due_at is None:
        task.next_escalation_at = None
        return actions
    steps = cache.steps(writes, task)
    while task.escalation_step < len(steps) and steps[task.escalation_step].at <= now:
        action = _perform(writes, cache, task, steps[task.escalation_step])
        if action:
            actions.append(action)
        task.escalation_step += 1
    task.next_escalation_at = steps[task.escalation_step].at if task.escalation_step < len(steps) else None
    return actions


def process_task(services, cache: _SweepCache, task_id: int, now: datetime, dry_run: bool = False,
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
            writes = _Writes(conn, now)
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
    result, cache = EscalationSweep(), _SweepCache()
    with services.uow() as uow:
        postgres = is_postgres(uow.session)
    if postgres and not dry_run:
        from .escalation_cas import sweep_with_compare_and_set

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


def drain(result: EscalationSweep, next_batch, run, batch: int, limit: int | None, id_of, pool=None) -> EscalationSweep:
    """Run `run` over the due tasks batch by batch (by id) until a short batch or `limit`; tallies into `result`."""
    last_id = 0
    while True:
        items = next_batch(last_id)
        if limit is not None:
            items = items[:max(limit - result.processed, 0)]
        for actions in (pool.map(run, items) if pool else map(run, items)):
            if actions is None:
                result.skipped += 1
            else:
                result.processed += 1
                result.actions.extend(actions)
        if len(items) < batch or (limit is not None and result.processed >= limit):
            return result
        last_id = id_of(items[-1])


# -- what an escalated-to level may do -------------------------------------------------------------
def _escalation_clause(user: User):
    pairs = [(g.role, g.org_id) for g in user.grants]
    clauses = [TaskEscalation.target_user_id == user.id]
    if pairs:
        clauses.append(tuple_(TaskEscalation.target_role, TaskEscalation.target_org_id).in_(pairs))
    return or_(*clauses)


def _task_for_escalated(s: Session, task_id: int, user: User) -> HumanTask:
    stmt = select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
    if is_postgres(s):
        stmt = stmt.with_for_update()
    task = s.scalars(stmt).first()
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    allowed = s.scalar(select(TaskEscalation.id).where(TaskEscalation.task_id == task.id, _escalation_clause(user)))
    if not allowed:
        raise NotAllowed(f"task {task_id} has not been escalated to you")
    if task.state != "ready":
        raise StaleTask(f"task {task_id} is already {task.state}")
    return task


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
        task = _task_for_escalated(s, task_id, user)
        due = parse_due(new_due, now)
        if due is None or due <= now:
            raise InvalidFormData("the new deadline must lie in the future",
                                  [{"field": "due_at", "message": "新期限必须晚于当前时间"}])
        old = task.due_at
        task.due_at = due
        definition = s.get(ProcessInstance, task.instance_id).definition
        reset_schedule(task, policy_for(definition, task.bpmn_id), CalendarBook(s).for_org(task.candidate_org_id), now)
        w = _Writes(s.connection(), now, s)
        w.event("TaskDeadlineExtended", task, user.id, old_due_at=old.isoformat() if old else None,
                due_at=due.isoformat(), reason=reason)
        w.notify_workers("deadline_extended", task, _task_payload(task, by=user.display_name, reason=reason))
        w.write()
        uow.commit()
        return task


def reassign_task(services, task_id: int, user_id: int, to_user_id: int, reason: str | None = None) -> HumanTask:
    """Give an escalated task to one of its candidates (engine.candidates: its role at its organisation or below)."""
    with services.uow() as uow:
        s, now = uow.session, services.clock.now()
        user = accounts.get_user(s, user_id)
        task = _task_for_escalated(s, task_id, user)
        candidates.require_candidate(s, task, to_user_id)
        target = accounts.get_user(s, to_user_id)
        previous = task.assignee_id
        task.assignee_id, task.claimed_at = target.id, now
        w = _Writes(s.connection(), now, s)
        w.event("TaskReassigned", task, user.id, from_user_id=previous, to_user_id=target.id, reason=reason)
        w.notify("task_reassigned", _task_payload(task, by=user.display_name, reason=reason), user_id=target.id)
        w.write()
        uow.commit()
        return task


def take_over_task(services, task_id: int, user_id: int, reason: str | None = None) -> HumanTask:
    """An escalated-to level takes the task into its own hands (it becomes the assignee)."""
    with services.uow() as uow:
        s, now = uow.session, services.clock.now()
        user = accounts.get_user(s, user_id)
        task = _task_for_escalated(s, task_id, user)
        previous = task.assignee_id
        task.assignee_id, task.claimed_at = user.id, now
        w = _Writes(s.connection(), now, s)
        w.event("TaskTakenOver", task, user.id, from_user_id=previous, reason=reason)
        if previous and previous != user.id:
            w.notify("task_taken_over", _task_payload(task, by=user.display_name, reason=reason), user_id=previous)
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
        stmt = select(HumanTask).where(HumanTask.id == task_id)
        task = s.scalars(stmt.with_for_update() if is_postgres(s) else stmt).first()
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        if task.assignee_id != user.id and (task.candidate_role, task.candidate_org_id) not in {
                (g.role, g.org_id) for g in user.grants}:
            raise NotAllowed(f"task {task_id} is not yours to work on")
        if task.state != "ready":
            raise StaleTask(f"task {task_id} is already {task.state}")
        w = _Writes(s.connection(), now, s)
        target = resolve_rung(w, _SweepCache(), task, to)
        if target is None:
            raise NotFound(f"this organisation has no {RUNG_NAMES[to]} to coordinate")
        w.event("CoordinationRequested", task, user.id, to=to, reason=reason)
        _escalate_to(w, task, target, list(RUNG_TARGETS).index(to) + 1, user.id, reason)
        w.write()
        uow.commit()
        return task


def is_escalated_to(s: Session, user: User, task_id: int) -> bool:
    """True when the task reached a level this user stands for (whether it is still open or not)."""
    return s.scalar(select(TaskEscalation.id).where(TaskEscalation.task_id == task_id, _escalation_clause(user))
                    .limit(1)) is not None


def escalated_to(s: Session, user: User, page: int = 1, per_page: int = 50) -> tuple[list[tuple[HumanTask, TaskEscalation]], int]:
    """The "escalated to me" view: open tasks that reached a level this user stands for, most overdue first."""
    where = (HumanTask.state == "ready", _escalation_clause(user))
    base = select(HumanTask, TaskEscalation).join(TaskEscalation, TaskEscalation.task_id == HumanTask.id).where(*where)
    total = s.scalar(select(func.count()).select_from(base.subquery()))
    rows = s.execute(base.order_by(HumanTask.due_at, HumanTask.id).limit(per_page).offset((max(page, 1) - 1) * per_page))
    return [(task, esc) for task, esc in rows], total
