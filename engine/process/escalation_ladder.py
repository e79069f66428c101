"""The escalation ladder: which rung a step reaches, and the rows one task's due steps write.

Shared by the one-task-per-transaction sweep (escalation.py) and the compare-and-set sweep on PostgreSQL
(escalation_cas.py); the verbs of an escalated-to level write through the same `Writes`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.calendar import CalendarBook, WorkCalendar
from engine.process.deadlines import EscalationPolicy, Step, policy_for, schedule
from engine.process.lifecycle import TaskState
from engine.process.models import (
    Event,
    HumanTask,
    OutboxMessage,
    ProcessDefinition,
    TaskEscalation,
)
from engine.process.outbox import OUTBOX_COLUMNS, outbox_row

# Who a rung is: (role, which org of the task's ancestry). unit_head prefers the unit's named head.
RUNG_TARGETS = {
    "unit_head": ("department_head", "unit"),
    "security_office": ("security_office", "school"),
    "leader": ("leader", "school"),
    "supervisor": ("supervisor", "bureau"),
}

RUNG_NAMES = {"unit_head": "部门负责人", "security_office": "保卫处", "leader": "分管校领导", "supervisor": "教育局"}

COORDINATION_RUNGS = ("leader", "supervisor")


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


class SweepCache:
    """Policies, calendars and org ancestries, kept across the sweep's many small transactions."""

    def __init__(self):
        self.policies: dict[tuple[int, str], EscalationPolicy] = {}
        self.calendars: dict[int | None, WorkCalendar] = {}
        self.ancestry: dict[int, list[tuple[int, str, int | None]]] = {}
        self.schedules: dict[tuple, list] = {}

    def policy(self, w: "Writes", definition_id: int, bpmn_id: str) -> EscalationPolicy:
        key = (definition_id, bpmn_id)
        if key not in self.policies:
            self.policies[key] = policy_for(w.s.get(ProcessDefinition, definition_id), bpmn_id)
        return self.policies[key]

    def steps(self, w: "Writes", task) -> list:
        """The task's ladder; tasks share due times (deadlines fall at 18:00 of working days), so compute once."""
        key = (task.definition_id, task.bpmn_id, task.candidate_org_id, task.due_at)
        if key not in self.schedules:
            policy = self.policy(w, task.definition_id, task.bpmn_id)
            self.schedules[key] = schedule(task.due_at, policy, self.calendar(w, task.candidate_org_id))
        return self.schedules[key]

    def calendar(self, w: "Writes", org_id: int | None) -> WorkCalendar:
        if org_id not in self.calendars:
            self.calendars[org_id] = CalendarBook(w.s).for_org(org_id)
        return self.calendars[org_id]

    def orgs(self, w: "Writes", org_id: int) -> list[tuple[int, str, int | None]]:
        if org_id not in self.ancestry:
            node = w.s.get(OrgNode, org_id)
            self.ancestry[org_id] = [(n.id, n.kind, n.head_user_id) for n in accounts.ancestors(w.s, node)] if node else []
        return self.ancestry[org_id]


def resolve_rung(w: "Writes", cache: SweepCache, task, rung: str) -> Target | None:
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


class Writes:
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
        self.outbox.append(outbox_row(self.now, kind, payload, user_id=user_id, role=role, org_id=org_id))

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
            "o": OUTBOX_COLUMNS,
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


def task_payload(task, **extra) -> dict:
    return {"task_id": task.id, "name": task.name, "hazard_id": task.hazard_id,
            "due_at": task.due_at.isoformat() if task.due_at else None, **extra}


def escalate_to(w: Writes, task, target: Target, level: int, actor_id: int | None, reason: str | None = None) -> bool:
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
    w.notify("task_escalated", task_payload(task, level=level, rung=RUNG_NAMES[target.rung], reason=reason),
             user_id=target.user_id, role=target.role, org_id=target.org_id)
    return True


def _perform(w: Writes, cache: SweepCache, task, step: Step) -> str | None:
    now = w.now
    if step.action == "remind":
        if task.due_at <= now:
            return None  # the sweep ran late: a reminder after the due time only adds noise
        task.reminded_at = now
        w.event("TaskReminderSent", task, due_at=task.due_at.isoformat())
        w.notify_workers("task_reminder", task, task_payload(task))
        return f"task {task.id}: reminded before due {task.due_at.isoformat()}"
    done = []
    if step.action == "overdue":
        task.overdue_at = now
        w.event("TaskOverdue", task, due_at=task.due_at.isoformat())
        w.notify_workers("task_overdue", task, task_payload(task))
        done.append("overdue")
    target = resolve_rung(w, cache, task, step.rung)
    if target is not None and escalate_to(w, task, target, step.level, None):
        done.append(f"escalated to level {step.level} {step.rung} ({target.role}@{target.org_id})")
    return f"task {task.id}: {', '.join(done)}" if done else None


def advance(writes: Writes, cache: SweepCache, task, now: datetime) -> list[str]:
    """Perform every step of the task's ladder that is due by `now`, collecting the rows to write; returns actions."""
    actions = []
    if task.state != TaskState.READY or task.due_at is None:
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
