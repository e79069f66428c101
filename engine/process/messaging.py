"""BPMN messages between process instances: start by message, deliver by correlation, keep subscriptions.

After an instance advances, SpiffWorkflow holds the message events it threw that nothing inside it caught
(`workflow.get_events()`). `route_events` turns each into a `process_messages` row and routes it:

* a message whose name is the message start event of a deployed process starts a new instance of that
  process (a new row: no lock is needed, so a campaign can fan out to hundreds of units in one step);
* otherwise the instances subscribed to that name with the same correlation (e.g. the campaign id) get it.

Lock order: an instance only ever locks instances it *delivers to* (locking the target before writing any
row that references it: see `_route`), and deliveries go from leaf instances
(a unit's self-check, a hazard) to the campaign that started them, never the other way (a campaign only
*starts* instances). So the order is always leaf → campaign and two transactions cannot wait on each
other in a cycle.

Delivery mode. "inline" (the default) catches the message in the target within the sender's transaction:
the sender's commit carries both sides, and nothing is ever lost. "deferred" commits the sender with the
message row pending and delivers it right after commit, in its own transaction (and again from the
`deliver_pending` sweep for anything left behind); the sender then holds the campaign's lock for no time
at all, at the price of a window in which the message is stored but not yet caught. bench/campaign_scale.py
measures both: with 200 units x 30 items and 8 clients on PostgreSQL they came out even (7.5 vs 7.1 units/s,
review-step p95 534 vs 778 ms on a loaded 2-core machine), because the campaign's own step stays small (its
tree does not grow with returns), so inline stays the default.

Retries. A deferred delivery that raises is rolled back and tried again after 1, 2, 4, 8 minutes
(`next_attempt_at`, indexed with the status); the fifth failure marks it `failed` with `last_error` kept for
an operator (`rectiflow messages list --status failed`, `rectiflow messages retry ID`). The scheduler drains
due messages every few seconds. A message is delivered at most once: its status changes in the same
transaction as the target's advance, under a row lock (SKIP LOCKED on PostgreSQL).

A message start event whose payload carries the business key `hazard:<id>` starts a new run for that
existing hazard (the look-back's `hazard_reopened`, engine/campaigns/look_back.py): the hazard row follows the new
instance.
"""
from __future__ import annotations

import json
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.message import (
    MessageEventDefinition as _BaseMessageDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.infra.db import is_postgres
from engine.infra.errors import ScriptNotAllowed, WorkflowFailed
from engine.process.incidents import (
    describe_failure,
    record_incident,
    resolve_incidents,
)
from engine.process.instances import lock_instance
from engine.process.lifecycle import InstanceState
from engine.process.models import (
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    ProcessMessage,
)
from engine.process.retries import DEFAULT_RETRIES, RetryPolicy
from engine.process.runtime import advance

DELIVERY_MODES = ("inline", "deferred")
# What a diagram expression SpiffWorkflow evaluates outside a task's run (a correlation property read from a
# payload on catch) raises: the restricted evaluator lets these through unwrapped.
EXPRESSION_ERRORS = (NameError, KeyError, TypeError, AttributeError, ValueError)
CONTEXT_KEYS = ("starter_id", "org_id", "school_id", "bureau_id")  # a person's start context (Services.start_process)
delivery_mode = "inline"  # set by the composition root or a benchmark; see the module docstring
_start_messages: dict[tuple[str, str], frozenset[str]] = {}  # (key, sha256) -> its start events' messages
_parallel_start_messages: dict[tuple[str, str], frozenset[str]] = {}  # (key, sha256) -> a parallel start's messages
_catching: dict[tuple[str, str], bool] = {}  # (key, sha256) -> has message catch events other than start events
# Deferred delivery that fails (the target's advance raised) follows the shared retry policy, then is `failed`;
# these two names are aliases of that policy, kept for the code and tests that import them from here.
MAX_ATTEMPTS = DEFAULT_RETRIES.max_attempts
retry_delay = DEFAULT_RETRIES.delay


def correlation_text(correlations: dict) -> str:
    """A canonical string for a correlation dict, so equal correlations compare equal in SQL."""
    return json.dumps(correlations or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def take_events(workflow) -> list:
    """Take the messages a workflow threw (before its state is stored) and drop finished fan-out children."""
    events = [e for e in workflow.get_events() if isinstance(e.event_definition, _BaseMessageDefinition)]
    compact_fan_out(workflow)
    return events


def compact_fan_out(workflow) -> int:
    """Drop finished children of multi-instance tasks: a campaign's N sends, and the N returns it receives.

    Their results were merged into the parent task when each child finished, so the children are history;
    kept, they would make every later step of the campaign cost O(units).
    """
    removed = 0
    for task in [t for wf in (workflow, *workflow.subprocesses.values()) for t in list(wf.tasks.values())]:
        if not isinstance(task.task_spec, MultiInstanceTask):
            continue
        child_spec = task.task_spec.task_spec
        drop = [c for c in task.children if c.task_spec.name == child_spec and c.state & TaskState.FINISHED_MASK
                and not c.children]
        if not drop:
            continue
        ids = {c.id for c in drop}
        task._children = [c for c in task._children if c not in ids]
        for task_id in ids:
            del task.workflow.tasks[task_id]
        if task.state == TaskState.COMPLETED:
            task.internal_data.pop("merged", None)  # a running sequential MI still counts with it
        removed += len(ids)
    return removed


def route_events(projector, instance: ProcessInstance, workflow, events: list) -> set[str]:
    """Route the messages an advance threw and refresh the instance's subscriptions; returns newly subscribed names."""
    s: Session = projector.session
    for thrown in events:
        payload = thrown.payload if isinstance(thrown.payload, dict) else {"value": thrown.payload}
        # Dates and decimals are fine in task data but not in a JSON column: store them as text.
        payload = json.loads(json.dumps(payload, default=str, ensure_ascii=False))
        message = ProcessMessage(name=thrown.event_definition.name, correlation=correlation_text(thrown.correlations),
                                 payload=payload,
                                 sender_instance_id=instance.id, status="pending", created_at=projector.now,
                                 next_attempt_at=projector.now)
        s.add(message)
        s.flush()
        _route(projector, message, thrown, instance.id, _sender_context(workflow, payload))
    return _sync_subscriptions(s, projector.runtime, instance, workflow)


def _sender_context(workflow, payload: dict) -> dict | None:
    """The organisation an instance a message starts inherits from the instance that threw it: the sender's start
    context (starter, organisation), unless the payload names an organisation itself (a campaign sends each unit's)."""
    if any(key in payload for key in CONTEXT_KEYS):
        return None
    start = workflow.task_tree.data
    return {key: start[key] for key in CONTEXT_KEYS if key in start} or None


def send_message(projector, name: str, correlations: dict, payload: dict,
                 sender_id: int | None = None) -> ProcessMessage:
    """Send a message the engine itself raises (not thrown by a diagram) through the same routing."""
    return route_message(projector, name, correlations, payload, sender_id)[0]


def route_message(projector, name: str, correlations: dict, payload: dict, sender_id: int | None = None,
                  start_data: dict | None = None) -> tuple[ProcessMessage, list[int]]:
    """send_message, also returning the instances that took it (started, caught, or queued for in deferred mode).

    `start_data` goes on the start of an instance the message starts, under the payload (a person sending from
    outside gives their organisation, as `Services.start_process` does)."""
    thrown = BpmnEvent(MessageEventDefinition(name), payload=payload, correlations=correlations)
    message = ProcessMessage(name=name, correlation=correlation_text(correlations), payload=payload,
                             sender_instance_id=sender_id, status="pending", created_at=projector.now,
                             next_attempt_at=projector.now)
    projector.session.add(message)
    projector.session.flush()
    return message, _route(projector, message, thrown, sender_id, start_data)


def _route(projector, message: ProcessMessage, thrown: BpmnEvent, sender_id: int | None,
           start_data: dict | None = None) -> list[int]:
    s = projector.session
    definition = _start_definition(s, projector.runtime, message.name)
    if definition is not None and message.name in _parallel_start_messages.get((definition.key, definition.sha256), ()):
        # A parallel multiple start fires when all its messages came: one an instance already waits for completes
        # that instance's start rather than starting another.
        waiting = s.scalar(select(MessageSubscription.instance_id).join(
            ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id).join(
            ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id).where(
            MessageSubscription.name == message.name, MessageSubscription.correlation == message.correlation,
            ProcessDefinition.key == definition.key).order_by(MessageSubscription.instance_id).limit(1))
        if waiting is not None and deliver(projector, message, waiting, thrown):
            return [waiting]
    if definition is not None:
        _start_instance(projector, definition, message, thrown, start_data)
        return [message.target_instance_id]
    targets = list(s.scalars(select(MessageSubscription.instance_id).where(
        MessageSubscription.name == message.name, MessageSubscription.correlation == message.correlation,
        MessageSubscription.instance_id != (sender_id or 0)).order_by(MessageSubscription.instance_id)))
    if not targets:
        message.status = "unmatched"
        return []
    if delivery_mode == "deferred":
        message.target_instance_id = targets[0]
        _deliver_after_commit(s, projector)
        return [targets[0]]
    # Inline: lock the target before this transaction writes any row that references it (the engine's lock
    # order, engine/process/instances.py). A foreign key to the target row takes a KEY SHARE lock on it; when
    # the instance lock was FOR UPDATE, upgrading to it while another sender queued for the same row deadlocked
    # (seen in bench/campaign_scale.py with 4 clients). It is FOR NO KEY UPDATE now, which key shares do not block.
    return [target_id for target_id in targets if deliver(projector, message, target_id, thrown)]


def deliver(projector, message: ProcessMessage, target_id: int, thrown: BpmnEvent | None = None) -> bool:
    """Catch a message in a waiting instance (locked here), advance it and persist it; False if it no longer waits."""
    s = projector.session
    instance = lock_instance(s, target_id)
    if instance.status != InstanceState.RUNNING:
        message.status, message.last_error = "unmatched", f"instance {target_id} is {instance.status}"
        return False
    if thrown is None:
        thrown = BpmnEvent(MessageEventDefinition(message.name), payload=message.payload,
                           correlations=json.loads(message.correlation or "{}"))
    workflow = projector.runtime.load(instance.definition, instance.state_json)
    try:
        with projector.runtime.engine_time():
            caught = workflow.event_manager.catch(thrown, internal=False)
            if caught:
                advance(workflow)
    except (SpiffWorkflowException, ScriptNotAllowed) as exc:
        raise WorkflowFailed(f"instance {target_id} could not take message {message.name!r}: {exc}") from None
    except EXPRESSION_ERRORS as exc:  # a correlation property the payload lacks, read by SpiffWorkflow on catch
        raise WorkflowFailed(f"instance {target_id} could not take message {message.name!r}: "
                             f"{type(exc).__name__}: {exc}") from None
    if not caught:
        message.status, message.last_error = "unmatched", f"instance {target_id} was not waiting for it"
        return False
    message.status, message.delivered_at, message.target_instance_id = "delivered", projector.now, target_id
    projector.persist(instance, workflow)
    if message.attempts > 1:  # an earlier deferred try failed and opened an incident: this one resolves it
        resolve_incidents(s, projector.now, None, message_id=message.id)
    return True


def _start_instance(projector, definition: ProcessDefinition, message: ProcessMessage, thrown: BpmnEvent,
                    start_data: dict | None = None) -> None:
    s = projector.session
    payload = dict(message.payload)
    try:
        workflow, failed = projector.runtime.start_by_message(definition, {**(start_data or {}), **payload}, thrown)
    except (SpiffWorkflowException, ScriptNotAllowed) as exc:
        raise WorkflowFailed(f"message {message.name!r} could not start {definition.key!r}: {exc}") from None
    except EXPRESSION_ERRORS as exc:  # e.g. a correlation property read from a payload that lacks it
        raise WorkflowFailed(f"message {message.name!r} could not start {definition.key!r}: its start event could "
                             f"not read the message ({type(exc).__name__}: {exc})") from None
    instance = projector.new_instance(definition, payload.get("business_key"))
    message.status, message.target_instance_id, message.delivered_at = "started", instance.id, projector.now
    # A business key naming an existing subject (a look-back's `hazard_reopened` carries `hazard:<id>`) makes
    # the new instance another run for that subject: the subject follows it, earlier instances stay as history.
    subject = projector.hooks.join_subject(s, instance)
    projector.persist(instance, workflow, subject)
    if failed is not None:
        # The steps after the start failed: the instance waits where the message left it, with an incident to retry;
        # the sender (another instance, or the messages API) carries on.
        record_incident(s, projector.now, instance.id, "start", describe_failure(failed), workflow_data=payload)


def _start_definition(s: Session, runtime, name: str) -> ProcessDefinition | None:
    """The latest deployed definition whose start event catches message `name`, if any."""
    latest: dict[str, ProcessDefinition] = {}
    for definition in s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version)):
        latest[definition.key] = definition
    for definition in latest.values():
        names = _start_messages.get((definition.key, definition.sha256))
        if names is None:
            spec, _ = runtime.specs_for(definition)
            names, parallel = _start_message_names(spec)
            _start_messages[(definition.key, definition.sha256)] = names
            _parallel_start_messages[(definition.key, definition.sha256)] = parallel
        if name in names:
            return definition
    return None


def _start_message_names(spec) -> tuple[frozenset[str], frozenset[str]]:
    """The messages the process's start events catch, and those of them a parallel multiple start waits for (all)."""
    names, parallel = set(), set()
    for ts in spec.task_specs.values():
        if type(ts).__name__ != "StartEvent":
            continue
        definition = ts.event_definition
        # A start event with several message definitions (SpiffWorkflow's MultipleEventDefinition) catches each.
        caught = {ed.name for ed in getattr(definition, "event_definitions", None) or [definition]
                  if isinstance(ed, _BaseMessageDefinition)}
        names |= caught
        if getattr(definition, "parallel", False):
            parallel |= caught
    return frozenset(names), frozenset(parallel)


def waiting_messages(workflow) -> dict[str, set[str]]:
    """Message name -> the correlation texts of the message catch events the workflow waits at (several when
    multi-instance subprocesses each wait for their own answer)."""
    top = workflow.correlations
    waiting: dict[str, set[str]] = {}
    # The event manager rather than waiting_events(): an event-based gateway reports itself there as one
    # nameless "MultipleEventDefinition", hiding the messages it waits for.
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        seen = [e.event_definition for e in task.internal_data.get("seen_events", [])]
        for ed in getattr(definition, "event_definitions", None) or [definition]:
            if not isinstance(ed, _BaseMessageDefinition) or ed in seen:
                continue  # a parallel multiple event waits only for the messages it has not had yet
            # The keys of the message's correlation properties, and of those the catch sets on its process
            # (spiffworkflow:processVariableCorrelation): a sender names the conversation by either.
            keys = {k for prop in (*ed.correlation_properties, *getattr(ed, "process_correlations", ()))
                    for k in prop.correlation_keys}
            # SpiffWorkflow correlates a catch by its own (sub)process's correlations: a receive task inside a
            # subprocess sets them there (spiffworkflow:processVariableCorrelation), not on the top workflow.
            own = {**top, **task.workflow.correlations}
            waiting.setdefault(ed.name, set()).add(correlation_text({k: own[k] for k in sorted(keys) if k in own}))
    return waiting


def _definitions(task_spec) -> list:
    """A task spec's event definitions: its own, or those a MultipleEventDefinition (event gateway) holds."""
    definition = getattr(task_spec, "event_definition", None)
    return list(getattr(definition, "event_definitions", None) or [definition])


def _catches_messages(runtime, definition: ProcessDefinition) -> bool:
    # Keyed by the diagram's content, not the row id: ids repeat across databases (tests, a second tenant).
    key = (definition.key, definition.sha256)
    cached = _catching.get(key)
    if cached is None:
        spec, subprocess_specs = runtime.specs_for(definition)
        specs = [spec, *subprocess_specs.values()]
        # An event-based gateway holds the messages of the catch events after it (they keep a none definition).
        cached = _catching[key] = bool(_start_message_names(spec)[1]) or any(
            isinstance(ed, _BaseMessageDefinition) and type(ts).__name__ != "StartEvent"
            and "Throw" not in type(ts).__name__ and "End" not in type(ts).__name__ and "Send" not in type(ts).__name__
            for sp in specs for ts in sp.task_specs.values() for ed in _definitions(ts))
    return cached


def _sync_subscriptions(s: Session, runtime, instance: ProcessInstance, workflow) -> set[str]:
    """Bring the instance's subscription rows in line with its catch events; returns newly subscribed names."""
    if not _catches_messages(runtime, instance.definition):
        return set()  # e.g. a hazard: never waits for a message, so no query per step
    waiting = {} if workflow.completed else waiting_messages(workflow)
    wanted = {(name, correlation) for name, correlations in waiting.items() for correlation in correlations}
    rows = {(row.name, row.correlation): row for row in s.scalars(
        select(MessageSubscription).where(MessageSubscription.instance_id == instance.id))}
    for pair, row in rows.items():
        if pair not in wanted:
            s.delete(row)
    for name, correlation in sorted(wanted - set(rows)):
        s.add(MessageSubscription(instance_id=instance.id, name=name, correlation=correlation))
    if wanted != set(rows):
        s.flush()
    return set(waiting) - {name for name, _ in rows}


def _deliver_after_commit(s: Session, projector) -> None:
    if s.info.get("deliver_after_commit"):
        return
    s.info["deliver_after_commit"] = True
    factory = sessionmaker(bind=s.get_bind(), expire_on_commit=False)

    def _after(_session):
        _session.info.pop("deliver_after_commit", None)
        deliver_pending(factory, projector.for_session, projector.now)

    event.listen(s, "after_commit", _after, once=True)
    event.listen(s, "after_soft_rollback", lambda _s, _t: _s.info.pop("deliver_after_commit", None), once=True)


def deliver_pending(session_factory: sessionmaker, projector_for, now: datetime, limit: int = 200,
                    retries: RetryPolicy = DEFAULT_RETRIES) -> int:
    """Deliver queued messages that are due, each in its own transaction; failures retry later with backoff.

    The message row is locked (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite serialises writers) and its status
    moves to `delivered` in the same transaction as the target's advance, so two sweeps never deliver it twice.
    A failed delivery is rolled back to a savepoint: the row keeps its lock, counts the attempt and waits
    `retries.delay(attempts)`; after the last attempt it is `failed` with the error kept (`rectiflow messages list`).
    """
    delivered = 0
    for _ in range(limit):
        s = session_factory()
        message_id = None
        try:
            stmt = (select(ProcessMessage).where(ProcessMessage.status == "pending",
                                                 ProcessMessage.next_attempt_at <= now,
                                                 ProcessMessage.target_instance_id.is_not(None))
                    .order_by(ProcessMessage.next_attempt_at, ProcessMessage.id).limit(1))
            if is_postgres(s):
                stmt = stmt.with_for_update(skip_locked=True)
            message = s.scalars(stmt).first()
            if message is None:
                return delivered
            message_id = message.id
            message.attempts += 1
            try:
                with s.begin_nested():
                    if deliver(projector_for(s), message, message.target_instance_id):
                        delivered += 1
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the queue or the sender
                failed = s.get(ProcessMessage, message_id)
                _schedule_retry(failed, _error_text(exc), now, retries)
                # The target's instance shows it (one incident per message, updated on each try; resolved by a success).
                record_incident(s, now, failed.target_instance_id, "message", describe_failure(exc),
                                message_id=failed.id)
            s.commit()
        except Exception as exc:  # noqa: BLE001 - e.g. the commit itself failed: count the attempt afresh
            s.rollback()
            if message_id is None:
                raise
            _record_failure(session_factory, message_id, _error_text(exc), now, retries)
        finally:
            s.close()
    return delivered


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"


def _schedule_retry(message: ProcessMessage, error: str, now: datetime, retries: RetryPolicy) -> None:
    message.last_error = error[:2000]
    message.next_attempt_at = retries.retry_at(now, message.attempts)
    if message.next_attempt_at is None:
        message.status = "failed"


def _record_failure(session_factory: sessionmaker, message_id: int, error: str, now: datetime,
                    retries: RetryPolicy) -> None:
    with session_factory() as s:
        message = s.get(ProcessMessage, message_id)
        if message is None or message.status != "pending":
            return
        message.attempts += 1
        _schedule_retry(message, error, now, retries)
        s.commit()


def retry_failed_message(session_factory: sessionmaker, message_id: int, now: datetime) -> bool:
    """An operator queues a failed message again (its attempts start from zero); False if it is not failed."""
    with session_factory() as s:
        done = s.execute(update(ProcessMessage).where(
            ProcessMessage.id == message_id, ProcessMessage.status == "failed").values(
            status="pending", attempts=0, next_attempt_at=now)).rowcount
        s.commit()
    return bool(done)


def list_messages(s: Session, status: str | None = None, limit: int = 50) -> list[ProcessMessage]:
    """Messages newest first, optionally of one status (e.g. `failed`, with their last error)."""
    stmt = select(ProcessMessage).order_by(ProcessMessage.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(ProcessMessage.status == status)
    return list(s.scalars(stmt))
