"""Timer start events: a process whose start event is a timer starts on its own, once per due slot.

One `timer_starts` row per (process key, timer start event) of the latest deployed version holds the next time
that event is due (`next_start_at`, indexed) and how many starts are left (`remaining`; NULL: unbounded).

* timeDate `2026-12-24T09:00+08:00`: one start at that time (a time already past when deployed starts at once);
* timeDuration `PT1H`: one start that long after the version was deployed;
* timeCycle `R3/PT1H` (`R/PT1H`: unbounded): a start every hour from an hour after deploy; `R3/<start>/PT1H`
  from that start (slots before the deploy are skipped); `R3/PT1H/<end>` ends then, as SpiffWorkflow reads it.

Expressions are read as SpiffWorkflow reads them (a Python expression, e.g. `"R2/PT1H"`), or, when that does
not evaluate, as the ISO 8601 text itself (Camunda writes `R3/PT1H` unquoted).

`sync` brings the rows in line with the latest versions (anchored at each version's deploy time, so it does
not matter which sweep first sees a deploy); a new version with the same timer keeps its schedule (a redeploy
neither repeats nor loses a slot), a changed timer starts afresh, a version without it stops it.
`fire_due` starts every due slot in its own transaction: the row is locked (FOR UPDATE SKIP LOCKED on
PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE) and advanced by a compare-and-set on the slot it
read, in the same transaction as the new instance, so two sweeps at once start each slot exactly once.
A timer's instance has no starter: its data gets the deploying designer's organisation (org_id, school_id,
bureau_id), so lanes find their candidates there. SpiffWorkflow would run a cycle start event's repetitions
inside one instance; here each slot is a new instance started at that event (`BpmnRuntime.start_by_timer`), as
BPMN means it.
A slot whose steps after the start fail (a script error) keeps its instance as the timer left it (its start
event fired, nothing after it run) with a `start` incident on it, so the designer sees it on 流程故障 and an
administrator may fix the data and retry; the error is also kept on the row with a `TimerStartFailed` event.
Any other failure rolls the slot back and skips it the same way, so one broken diagram cannot stall the sweep.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.infra.db import Base, UTCDateTime, is_postgres
from engine.infra.errors import RectiflowError, ScriptNotAllowed
from engine.org import accounts
from engine.org.models import User
from engine.process.events import record_event
from engine.process.incidents import describe_failure, record_incident
from engine.process.models import ProcessDefinition
from engine.process.runtime import _open_timer_start
from engine.process.scripting import evaluate_expression

KINDS = {TimeDateEventDefinition: "date", DurationTimerEventDefinition: "duration", CycleTimerEventDefinition: "cycle"}
MAX_SLOTS_PER_SWEEP = 100  # per start event: a scheduler that was down catches up over a few sweeps
_ISO = re.compile(r"^(R\d*/|P|\d{4}-)", re.IGNORECASE)
_timer_starts: dict[tuple[str, str], list[tuple[str, str, str]]] = {}  # (key, sha256) -> [(event id, kind, expr)]


class TimerStart(Base):
    """The schedule of one timer start event of the latest version of a process."""

    __tablename__ = "timer_starts"
    __table_args__ = (UniqueConstraint("process_key", "start_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100))
    start_event: Mapped[str] = mapped_column(String(100))
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # date | duration | cycle
    expression: Mapped[str] = mapped_column(String(200))  # the evaluated timer text, e.g. R3/PT1H
    # The sweep reads only rows with next_start_at <= now; NULL once no start is left (or the timer was removed).
    next_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    remaining: Mapped[int | None] = mapped_column(Integer)  # starts left including next_start_at; NULL: unbounded
    started: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the slot last started
    last_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    last_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class TimerStartSweep:
    """What one sweep of timer start events did: the instances started and the slots that failed."""

    started: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class _Refused(RectiflowError):
    code = "timer_start_refused"


# -- reading the diagram -------------------------------------------------------------------------------
def timer_text(expression: str) -> str:
    """The ISO 8601 text of a timer expression: evaluated as a (restricted) Python expression, else taken as is."""
    text = (expression or "").strip()
    try:
        value = evaluate_expression(text, {})
    except Exception:  # noqa: BLE001 - Camunda's bare R3/PT1H is not Python
        value = None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value.strip()
    if _ISO.match(text):
        return text
    raise _Refused(f"timer {expression!r} is neither an ISO 8601 time, duration or cycle nor an expression giving one")


def timer_start_events(runtime, definition: ProcessDefinition) -> list[tuple[str, str, str]]:
    """(bpmn id, kind, timer expression) of each timer start event of a definition's top-level process."""
    cache_key = (definition.key, definition.sha256)
    cached = _timer_starts.get(cache_key)
    if cached is None:
        spec, _ = runtime.specs_for(definition)
        cached = _timer_starts[cache_key] = sorted(
            (ts.bpmn_id, KINDS[type(ts.event_definition)], ts.event_definition.expression)
            for ts in spec.task_specs.values()
            if isinstance(ts, StartEvent) and type(ts.event_definition) in KINDS)
    return cached


def _duration(text: str, start: datetime) -> timedelta:
    return TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(text), start)


def first_slot(kind: str, text: str, deployed_at: datetime) -> tuple[datetime | None, int | None]:
    """(next start, starts left) of a timer read at deploy time; (None, 0) when it never starts."""
    if kind == "date":
        when = TimerEventDefinition.parse_time_or_duration(text)
        if not isinstance(when, datetime):
            raise _Refused(f"timeDate {text!r} is not a date and time")
        return when, 1
    if kind == "duration":
        return deployed_at + _duration(text, deployed_at), 1
    cycles, start, interval = parse_cycle(text, deployed_at)
    if interval <= timedelta(0):
        raise _Refused(f"timer cycle {text!r} has no positive interval")
    if start < deployed_at:  # slots before the deploy are not owed
        skip = math.ceil((deployed_at - start) / interval)
        start += skip * interval
        cycles = None if cycles is None else max(cycles - skip, 0)
    if cycles == 0:
        return None, 0
    return start, cycles


def parse_cycle(text: str, now: datetime) -> tuple[int | None, datetime, timedelta]:
    """(repetitions or None for unbounded, first slot, interval) of an ISO 8601 repeating interval."""
    parts = text.upper().replace("--", "/").split("/")
    if not parts[0].startswith("R") or len(parts) not in (2, 3):
        raise _Refused(f"timer cycle {text!r} is not an ISO 8601 repeating interval like R3/PT1H")
    count = parts[0][1:]
    cycles = int(count) if count else None
    first = TimerEventDefinition.parse_time_or_duration(parts[1])
    last = TimerEventDefinition.parse_time_or_duration(parts[2]) if len(parts) == 3 else None
    if isinstance(first, datetime) and isinstance(last, dict):
        return cycles, first, _duration(parts[2], first)
    if isinstance(first, dict) and isinstance(last, datetime):
        interval = TimerEventDefinition.get_timedelta_from_end(first, last)
        return cycles, last - interval, interval
    if isinstance(first, dict) and last is None:
        interval = _duration(parts[1], now)
        return cycles, now + interval, interval
    raise _Refused(f"timer cycle {text!r} is not an ISO 8601 repeating interval like R3/PT1H")


def next_slot(row: TimerStart) -> tuple[datetime | None, int | None]:
    """(next start, starts left) after the row's current slot has started."""
    remaining = None if row.remaining is None else row.remaining - 1
    if row.kind != "cycle" or remaining == 0:
        return None, 0
    _, _, interval = parse_cycle(row.expression, row.next_start_at)
    return row.next_start_at + interval, remaining


# -- keeping the rows in line with the latest versions ---------------------------------------------------
def latest_definitions(s: Session) -> list[ProcessDefinition]:
    newest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.key).subquery())
    return list(s.scalars(select(ProcessDefinition).join(
        newest, (ProcessDefinition.key == newest.c.key) & (ProcessDefinition.version == newest.c.version))))


def sync(s: Session, runtime) -> list[str]:
    """Bring the timer_starts rows in line with the latest deployed versions; returns timers it could not read.

    Writes only when a version changed; every write is conditional on what it read (a concurrent sweep that
    synced first wins), so two sweeps never both reschedule a row."""
    problems = []
    rows: dict[tuple[str, str], TimerStart] = {(r.process_key, r.start_event): r for r in s.scalars(select(TimerStart))}
    by_key: dict[str, list[TimerStart]] = {}
    for row in rows.values():
        by_key.setdefault(row.process_key, []).append(row)
    for definition in latest_definitions(s):
        events = {bpmn_id: (kind, expr) for bpmn_id, kind, expr in timer_start_events(runtime, definition)}
        for row in by_key.get(definition.key, []):
            if row.start_event not in events and row.definition_id != definition.id:
                _set_if_unchanged(s, row, definition_id=definition.id, next_start_at=None, remaining=0)
        for bpmn_id, (kind, expression) in events.items():
            row = rows.get((definition.key, bpmn_id))
            if row is not None and row.definition_id == definition.id:
                continue
            error = None
            try:
                text = timer_text(expression)
                if row is not None and (row.kind, row.expression) == (kind, text):
                    _set_if_unchanged(s, row, definition_id=definition.id)  # same timer: keep its schedule
                    continue
                next_at, remaining = first_slot(kind, text, definition.deployed_at)
            except Exception as exc:  # noqa: BLE001 - a timer we cannot read: reported, the others go on
                error = f"{definition.key}/{bpmn_id}: {getattr(exc, 'message', None) or exc}"
                problems.append(error)
                text, next_at, remaining = str(expression)[:200], None, 0
            values = {"definition_id": definition.id, "kind": kind, "expression": text[:200],
                      "next_start_at": next_at, "remaining": remaining, "last_error": error}
            if row is None:
                _insert_once(s, {"process_key": definition.key, "start_event": bpmn_id, "started": 0, **values})
            else:
                _set_if_unchanged(s, row, **values)
    return problems


def _set_if_unchanged(s: Session, row: TimerStart, **values) -> None:
    s.execute(update(TimerStart).where(TimerStart.id == row.id, TimerStart.definition_id == row.definition_id)
              .values(**values))


def _insert_once(s: Session, values: dict) -> None:
    insert = pg_insert if is_postgres(s) else sqlite_insert
    s.execute(insert(TimerStart).values(**values).on_conflict_do_nothing(
        index_elements=[TimerStart.process_key, TimerStart.start_event]))


# -- starting the due slots ------------------------------------------------------------------------------
def fire_due(services, limit: int = 100) -> TimerStartSweep:
    """Start every due slot of every timer start event (each in its own transaction); see the module docstring."""
    now = services.clock.now()
    with services.uow() as uow:
        problems = sync(uow.session, services.runtime)
        uow.commit()
    with services.uow() as uow:
        due = list(uow.session.scalars(select(TimerStart.id).where(TimerStart.next_start_at <= now)
                                       .order_by(TimerStart.next_start_at, TimerStart.id).limit(limit)))
    sweep = TimerStartSweep(failed=problems)
    for row_id in due:
        for _ in range(MAX_SLOTS_PER_SWEEP):
            try:
                instance_id = _fire_slot(services, row_id, now)
            except _SlotFailed as failure:
                _record_failure(services, row_id, failure, now)
                sweep.failed.append(failure.text)
                continue
            except _StepsFailed as failed:  # started, then stopped with an incident: counted as both
                sweep.started.append(failed.instance_id)
                sweep.failed.append(failed.text)
                continue
            if instance_id is None:
                break
            sweep.started.append(instance_id)
    return sweep


class _SlotFailed(Exception):
    def __init__(self, slot: datetime, text: str):
        super().__init__(text)
        self.slot, self.text = slot, text


class _StepsFailed(Exception):
    """The slot's instance was stored where its timer left it, with an incident (already committed)."""

    def __init__(self, instance_id: int, text: str):
        super().__init__(text)
        self.instance_id, self.text = instance_id, text


def _caught_by_timer(runtime, definition: ProcessDefinition, data: dict, start_event: str,
                     slot: datetime) -> BpmnWorkflow:
    """A new workflow whose timer start event `start_event` has fired and nothing after it has run: what is kept
    when the steps after the start fail, so a retry (engine steps from the stored state) runs them again."""
    spec, subprocess_specs = runtime.specs_for(definition)
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=runtime.script_engine)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    with runtime.engine_time():
        _open_timer_start(workflow, start_event, slot)
    return workflow


def _lock_row(s: Session, row_id: int) -> TimerStart | None:
    stmt = select(TimerStart).where(TimerStart.id == row_id).execution_options(populate_existing=True)
    if is_postgres(s):
        stmt = stmt.with_for_update(skip_locked=True)
    return s.scalars(stmt).first()


def _fire_slot(services, row_id: int, now: datetime) -> int | None:
    """Start the row's due slot; the new instance's id, or None when nothing is due (or another sweep has it)."""
    with services.uow() as uow:
        s = uow.session
        row = _lock_row(s, row_id)
        if row is None or row.next_start_at is None or row.next_start_at > now:
            return None
        slot = row.next_start_at
        definition = s.get(ProcessDefinition, row.definition_id)
        try:
            next_at, remaining = next_slot(row)
            taken = s.execute(update(TimerStart).where(
                TimerStart.id == row.id, TimerStart.next_start_at == slot, TimerStart.definition_id == definition.id,
            ).values(next_start_at=next_at, remaining=remaining, started=TimerStart.started + 1,
                     last_started_at=slot, last_error=None)).rowcount
            if taken != 1:
                return None  # another sweep started this slot first
            data = {**_deployer_context(s, definition), "timer_start_event": row.start_event,
                    "timer_scheduled_at": slot.isoformat()}
            failed = None
            try:
                workflow = services.runtime.start_by_timer(definition, data, row.start_event, slot)
            except (SpiffWorkflowException, ScriptNotAllowed) as exc:
                # The steps after the start failed: keep the instance where the timer left it, with an incident.
                failed = exc
                workflow = _caught_by_timer(services.runtime, definition, data, row.start_event, slot)
            projector = services.projector(s, now, None)
            instance = projector.new_instance(definition, None)
            record_event(s, now, "ProcessStarted", None, instance_id=instance.id, key=definition.key,
                         version=definition.version, business_key=None, trigger="timer",
                         start_event=row.start_event, scheduled_at=slot.isoformat())
            projector.persist(instance, workflow)
            values = {"last_instance_id": instance.id}
            if failed is not None:
                failure = describe_failure(failed)
                text = f"{definition.key}/{row.start_event} at {slot.isoformat()}: {failure.message}"[:2000]
                values["last_error"] = text
                record_incident(s, now, instance.id, "start", failure, workflow_data=data)
                record_event(s, now, "TimerStartFailed", None, instance_id=instance.id, key=row.process_key,
                             start_event=row.start_event, scheduled_at=slot.isoformat(), error=text)
            s.execute(update(TimerStart).where(TimerStart.id == row.id).values(**values))
            uow.commit()
        except Exception as exc:  # rolled back; the slot is skipped with the error kept
            text = f"{definition.key}/{row.start_event} at {slot.isoformat()}: {getattr(exc, 'message', None) or exc}"
            raise _SlotFailed(slot, text[:2000]) from exc
        if failed is not None:
            raise _StepsFailed(instance.id, text)
        return instance.id


def _deployer_context(s: Session, definition: ProcessDefinition) -> dict:
    """Nobody starts a timer's instance: its organisation context (as `start_process` gives a starter's) is that of
    the designer who deployed the version, so lanes find their candidates at that school."""
    if definition.deployed_by_id is None:
        return {}
    user = s.get(User, definition.deployed_by_id)
    school = accounts.nearest(s, user.org, "school")
    return {"org_id": user.org_id, "school_id": school.id if school else None,
            "bureau_id": school.parent_id if school else None}


def _record_failure(services, row_id: int, failure: _SlotFailed, now: datetime) -> None:
    with services.uow() as uow:
        s = uow.session
        row = _lock_row(s, row_id)
        if row is None or row.next_start_at != failure.slot:
            return
        try:
            next_at, remaining = next_slot(row)
        except Exception:  # noqa: BLE001 - an unreadable cycle stops here
            next_at, remaining = None, 0
        row.next_start_at, row.remaining, row.last_error = next_at, remaining, failure.text
        record_event(s, now, "TimerStartFailed", None, key=row.process_key, start_event=row.start_event,
                     scheduled_at=failure.slot.isoformat(), error=failure.text)
        uow.commit()


def schedules(s: Session) -> list[TimerStart]:
    """Every timer start event's schedule, soonest first (the CLI and operators read it)."""
    return list(s.scalars(select(TimerStart).order_by(TimerStart.next_start_at.is_(None), TimerStart.next_start_at,
                                                      TimerStart.process_key)))
