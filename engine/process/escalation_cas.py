"""The escalation sweep on PostgreSQL: read due tasks in batches, then write each task with one statement.

Each task's steps are computed from the row as read, then written by a single compare-and-set statement: an
UPDATE of the task guarded by the columns the steps were computed from, whose RETURNING feeds the INSERTs of
its events, escalation rows and outbox messages (data-modifying CTEs). In autocommit that statement is the
task's own transaction, one round trip, with nothing held between read and write. A task changed meanwhile
(completed, extended, escalated by a second sweep) fails the guard and writes nothing, so every step is
performed exactly once however many sweeps run; the loser counts it as skipped.
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from engine.process.escalation_ladder import EscalationSweep, Writes, advance, drain
from engine.process.models import (
    Event,
    HumanTask,
    OutboxMessage,
    ProcessInstance,
    TaskEscalation,
)
from engine.process.outbox import OUTBOX_COLUMNS

# The columns the steps are computed from: if any changed after the read, the write must not happen.
GUARDED = ("state", "due_at", "assignee_id", "escalation_step", "escalation_level", "next_escalation_at")
UPDATED = ("escalation_step", "escalation_level", "next_escalation_at", "reminded_at", "overdue_at")
INSERTED = {"events": (Event.__table__, ("occurred_at", "kind", "actor_id", "instance_id", "hazard_id", "task_id",
                                         "data")),
            "outbox": (OutboxMessage.__table__, OUTBOX_COLUMNS),
            "escalations": (TaskEscalation.__table__, ("task_id", "hazard_id", "level", "rung", "target_role",
                                                       "target_org_id", "target_user_id", "reason", "created_at"))}


def _pg_type(column) -> str:
    dialect = postgresql.dialect()
    kind = column.type.load_dialect_impl(dialect) if hasattr(column.type, "impl") else column.type
    return kind.compile(dialect=dialect)


def _statement() -> str:
    """One constant statement (prepared once per connection) taking the whole task as one JSON parameter."""
    table = HumanTask.__table__
    guard = " AND ".join(f"t.{name} IS NOT DISTINCT FROM (p.j->'guard'->>'{name}')::{_pg_type(table.c[name])}"
                         for name in GUARDED)
    sets = ", ".join(f"{name} = (p.j->'set'->>'{name}')::{_pg_type(table.c[name])}" for name in UPDATED)
    # `l` takes the row lock first with SKIP LOCKED: a task held by another transaction (a user completing it,
    # another sweep) is skipped now and swept next time, instead of blocking this worker.
    ctes = [f"p AS (SELECT %(task)s::jsonb AS j)",
            "l AS (SELECT h.id FROM human_tasks h, p WHERE h.id = (p.j->>'id')::integer FOR UPDATE OF h SKIP LOCKED)",
            f"u AS (UPDATE human_tasks t SET {sets} FROM p, l WHERE t.id = l.id AND {guard} RETURNING t.id)"]
    for key, (target, columns) in INSERTED.items():
        shape = ", ".join(f"{name} {_pg_type(target.c[name])}" for name in columns)
        ctes.append(f"add_{key} AS (INSERT INTO {target.name} ({', '.join(columns)}) SELECT r.* FROM p "
                    f"CROSS JOIN jsonb_to_recordset(p.j->'{key}') AS r({shape}) WHERE EXISTS (SELECT 1 FROM u))")
    return f"WITH {', '.join(ctes)} SELECT count(*) FROM u"


_STATEMENT = _statement()
_READ_COLUMNS = ("id", "instance_id", "hazard_id", "name", "bpmn_id", "state", "due_at", "candidate_role",
                 "candidate_org_id", "assignee_id", "escalation_step", "escalation_level", "next_escalation_at",
                 "reminded_at", "overdue_at")


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def due_batch(conn, now: datetime, after_id: int, size: int) -> list[SimpleNamespace]:
    """The next `size` tasks whose next step is due, by id (indexed `next_escalation_at`), read without locks."""
    table = HumanTask.__table__
    stmt = (select(*(table.c[name] for name in _READ_COLUMNS), ProcessInstance.definition_id)
            .join(ProcessInstance.__table__, ProcessInstance.id == table.c.instance_id)
            .where(table.c.next_escalation_at <= now, table.c.id > after_id).order_by(table.c.id).limit(size))
    return [SimpleNamespace(**{k: v.astimezone(timezone.utc) if isinstance(v, datetime) else v
                               for k, v in row._asdict().items()}) for row in conn.execute(stmt)]


def write_task(conn, writes, task, guard: dict) -> bool:
    """Write the task's new deadline columns and collected rows if it is still as read; False when it changed."""
    document = {"id": task.id, "guard": guard, "set": {name: getattr(task, name) for name in UPDATED},
                "events": writes.events, "outbox": writes.outbox, "escalations": writes.escalations}
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.execute(_STATEMENT, {"task": json.dumps(document, default=_json_default, ensure_ascii=False)})
        return cursor.fetchone()[0] == 1


def sweep_with_compare_and_set(services, cache, now: datetime, batch: int, limit: int | None, workers: int):
    """escalate_overdue on PostgreSQL: batches read by one query, tasks written concurrently by `workers` threads."""
    engine = services.session_factory.kw["bind"]
    local, connections, lock = threading.local(), [], threading.Lock()

    def connection():
        if not hasattr(local, "connection"):
            # One autocommit connection per worker for the whole sweep: each statement is its own transaction.
            local.connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # Asynchronous commit: a crash may forget the last few hundred milliseconds of sweep commits, whole
            # transactions only, and the next sweep performs those steps again (the sweep is idempotent). Anything
            # that acts on a sweep's rows durably (delivery marking an outbox row 'sending', a user completing a
            # task) commits synchronously, which flushes the write-ahead log up to and past these commits first.
            local.connection.exec_driver_sql("SET synchronous_commit = off")
            with lock:
                connections.append(local.connection)
        return local.connection

    def run(task) -> list[str] | None:
        conn = connection()
        guard = {name: getattr(task, name) for name in GUARDED}
        writes = Writes(conn, now)
        try:
            actions = advance(writes, cache, task, now)
            return actions if write_task(conn, writes, task, guard) else None
        finally:
            if writes._session is not None:
                writes._session.close()

    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        with engine.connect() as reader:
            def next_batch(after_id: int) -> list[SimpleNamespace]:
                tasks = due_batch(reader, now, after_id, batch)
                reader.rollback()  # no snapshot kept open across the batch's writes
                return tasks

            return drain(EscalationSweep(), next_batch, run, batch, limit, id_of=lambda task: task.id, pool=pool)
    finally:
        if pool is not None:
            pool.shutdown()
        for conn in connections:
            try:
                conn.exec_driver_sql("RESET synchronous_commit")  # pooled connections go back as they came
            except Exception:  # a broken connection must not be pooled with the setting on
                conn.invalidate()
            conn.close()
