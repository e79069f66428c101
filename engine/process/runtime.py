"""The SpiffWorkflow adapter: specs stored once per definition, instances without their spec, the engine's clock."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as timer_module
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.infra.clock import Clock
from engine.infra.errors import ScriptBudgetExceeded, ScriptNotAllowed, WorkflowFailed
from engine.process.scripting import ClockDatetime as _ClockDatetime
from engine.process.scripting import RestrictedScriptEngine
from engine.process.scripting import active_clock as _active_clock


def _install_clock_hook() -> None:
    # SpiffWorkflow's timer module calls datetime.now(timezone.utc) directly; there is no hook.
    if timer_module.datetime is not _ClockDatetime:
        timer_module.datetime = _ClockDatetime


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Serializes a workflow without its spec; the spec is supplied again on restore."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            raise ValueError("a spec must be supplied to restore a workflow")
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


# One advance (from a start, a completed task or a fired timer to the next wait state) may complete at most this
# many engine tasks and take at most this long: a diagram that loops through scripts and gateways without ever
# waiting becomes an incident instead of a worker that never returns. Each script has its own budget as well
# (engine/process/script_budget.py).
STEP_BUDGET = 10_000
ADVANCE_SECONDS = 10.0


def advance(workflow: BpmnWorkflow, steps: int | None = None, seconds: float | None = None) -> None:
    """`advance(workflow)` under the step and time budget of one advance (ScriptBudgetExceeded past it)."""
    steps = STEP_BUDGET if steps is None else steps
    deadline_s = ADVANCE_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + deadline_s
    done = 0

    def count(task) -> None:
        nonlocal done
        done += 1
        if done > steps:
            raise ScriptBudgetExceeded(
                f"the process ran {steps:,} steps without waiting (at {task.task_spec.bpmn_name or task.task_spec.name!r}): "
                "a loop with no user task, timer or message to wait for?")
        if time.monotonic() > deadline:
            raise ScriptBudgetExceeded(
                f"the process ran for over {deadline_s:g} s without waiting "
                f"(at {task.task_spec.bpmn_name or task.task_spec.name!r})")

    workflow.do_engine_steps(did_complete_task=count)


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpeclessWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


class BpmnRuntime:
    """Creates, restores, advances and stores SpiffWorkflow workflows for the services."""

    def __init__(self, clock: Clock, functions: dict | None = None):
        _install_clock_hook()
        self.clock = clock
        self.script_engine = RestrictedScriptEngine(functions)
        self.serializer = _make_serializer()
        self._spec_cache: dict[int, tuple] = {}

    # -- specs ---------------------------------------------------------------------------------
    def dump_spec(self, spec, subprocess_specs: dict) -> str:
        """JSON for a parsed spec and its subprocess specs, stored once on the definition row."""
        registry = self.serializer.registry
        registry._encoder_mode = True
        try:
            dct = {
                "spec": registry.convert(spec),
                "subprocess_specs": {name: registry.convert(sp) for name, sp in subprocess_specs.items()},
            }
            return json.dumps(dct, cls=self.serializer._encoder_cls)
        finally:
            registry._encoder_mode = False

    def specs_for(self, definition) -> tuple:
        """The restored (spec, subprocess_specs) of a definition row, cached by its id (rows never change)."""
        cached = self._spec_cache.get(definition.id)
        if cached is None:
            dct = json.loads(definition.spec_json, cls=self.serializer.json_decoder_cls)
            registry = self.serializer.registry
            spec = registry.restore(dct["spec"])
            subprocess_specs = {name: registry.restore(sp) for name, sp in dct["subprocess_specs"].items()}
            cached = self._spec_cache[definition.id] = (spec, subprocess_specs)
        return cached

    # -- instances -----------------------------------------------------------------------------
    @contextmanager
    def engine_time(self):
        """Within this block SpiffWorkflow's timers see the engine's clock."""
        token = _active_clock.set(self.clock)
        try:
            yield
        finally:
            _active_clock.reset(token)

    def start(self, definition, data: dict, message=None) -> BpmnWorkflow:
        """A new workflow with `data` on its start, advanced to its first wait state (or started by `message`)."""
        spec, subprocess_specs = self.specs_for(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        if not _drop_timer_starts(workflow) and message is None:
            raise WorkflowFailed(f"process {definition.key!r} starts only on its timer schedule, not by hand")
        with self.engine_time():
            if message is not None:
                _open_start_events(workflow)
                workflow.catch(message)
            advance(workflow)
        return workflow

    def start_by_message(self, definition, data: dict, message) -> tuple[BpmnWorkflow, Exception | None]:
        """A new workflow started by `message`, advanced to its first wait state; and the error if that failed.

        When the engine steps after the catch raise, the workflow comes back as the message left it (its start
        event caught, nothing after it run), so the instance can be stored with an incident and retried."""
        spec, subprocess_specs = self.specs_for(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        _drop_timer_starts(workflow)
        with self.engine_time():
            _open_start_events(workflow)
            workflow.catch(message)
        caught = self.serializer.serialize_json(workflow)
        try:
            with self.engine_time():
                advance(workflow)
        except (SpiffWorkflowException, ScriptNotAllowed) as exc:
            return self.load(definition, caught), exc
        return workflow, None

    def start_by_timer(self, definition, data: dict, start_event: str, due_at: datetime) -> BpmnWorkflow:
        """A new workflow started at its timer start event `start_event` (its slot is due), advanced to a wait state.

        The timer's due time is the caller's business (engine/process/timer_starts.py): here the event fires at
        once, and the process's other start events are dropped."""
        spec, subprocess_specs = self.specs_for(definition)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        with self.engine_time():
            _open_timer_start(workflow, start_event, due_at)
            advance(workflow)
        return workflow

    def load(self, definition, state_json: str) -> BpmnWorkflow:
        """Restore a stored workflow, bound to its definition's spec and the restricted script engine."""
        spec, subprocess_specs = self.specs_for(definition)
        dct = json.loads(state_json, cls=self.serializer.json_decoder_cls)
        self.serializer.migrate(dct)
        workflow = self.serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    def dump(self, workflow: BpmnWorkflow) -> str:
        """The workflow's state as JSON, without the spec (finished loop iterations compacted away)."""
        compact_loop_history(workflow)
        return self.serializer.serialize_json(workflow)

    def run_task(self, workflow: BpmnWorkflow, task, data: dict) -> None:
        """Complete one ready user task with form data and run engine steps to the next wait state."""
        task.data.update(data)
        with self.engine_time():
            task.run()
            advance(workflow)

    def fire_timers(self, workflow: BpmnWorkflow) -> None:
        """Let due timers fire at the engine's time and run what follows."""
        with self.engine_time():
            workflow.refresh_timers()
            advance(workflow)

    @staticmethod
    def ready_user_tasks(workflow: BpmnWorkflow) -> list:
        return workflow.get_tasks(state=TaskState.READY, manual=True)

    @staticmethod
    def next_timer_at(workflow: BpmnWorkflow) -> datetime | None:
        """The earliest due time among the workflow's waiting timers, including those behind event gateways."""
        due: list[datetime] = []
        for task in workflow.event_manager.tasks.values():
            definition = task.task_spec.event_definition
            # An event-based gateway waits on a MultipleEventDefinition whose timers keep their due
            # value on the gateway task itself; waiting_events() reports it without that value.
            timers = [d for d in getattr(definition, "event_definitions", [definition])
                      if isinstance(d, TimerEventDefinition)]
            value = task._get_internal_data("event_value") if timers else None
            if isinstance(value, dict):  # cycle timers keep {'next': iso, ...}
                value = value.get("next")
            if value is None:
                continue
            when = TimerEventDefinition.parse_time_or_duration(value)
            if isinstance(when, datetime):
                due.append(when.astimezone(timezone.utc))
        return min(due) if due else None


def _open_start_events(workflow: BpmnWorkflow) -> None:
    """Run up to the start events and drop the none start events: a message starts at the event catching it.

    With several start events SpiffWorkflow lets the first one to fire win; a none start event fires at
    once, so a process that also has a message start event (hazard_rectification's `hazard_reopened`)
    would otherwise always take its manual start path.
    """
    while True:
        ready = [t for t in workflow.get_tasks(state=TaskState.READY) if not t.task_spec.manual]
        starts = [t for t in ready if isinstance(t.task_spec, StartEvent)]
        for task in starts:
            if isinstance(task.task_spec.event_definition, NoneEventDefinition):
                task.cancel()
        steps = [t for t in ready if t not in starts]
        if not steps:
            return
        for task in steps:
            task.run()


def _drop_timer_starts(workflow: BpmnWorkflow) -> int:
    """An instance started by hand or by a message never waits at the process's timer start events: those start
    instances of their own on schedule (engine/process/timer_starts.py), and SpiffWorkflow would otherwise run a
    cycle's repetitions inside this one (and evaluate Camunda's bare `R3/PT1H` as Python).
    Returns how many other start events remain."""
    others = 0
    for task in workflow.get_tasks():
        if not isinstance(task.task_spec, StartEvent):
            continue
        if isinstance(task.task_spec.event_definition, TimerEventDefinition):
            task.cancel()
        else:
            others += 1
    return others


def _open_timer_start(workflow: BpmnWorkflow, start_event: str, due_at: datetime) -> None:
    """Fire the timer start event `start_event` now, as due at `due_at`, and drop the process's other start events.

    Marked before the start events are first updated, so SpiffWorkflow never evaluates the timer itself (its
    schedule is kept by engine/process/timer_starts.py; Camunda's bare `R3/PT1H` is not a Python expression)."""
    starts = [t for t in workflow.get_tasks() if isinstance(t.task_spec, StartEvent)]
    chosen = [t for t in starts if t.task_spec.bpmn_id == start_event]
    if not chosen:
        raise ValueError(f"process {workflow.spec.name!r} has no start event {start_event!r}")
    for task in starts:
        if task in chosen:
            task._set_internal_data(event_fired=True, event_value=due_at.isoformat())
            if isinstance(task.task_spec.event_definition, CycleTimerEventDefinition) and not task.children:
                # A cycle start event adds its next steps only when its own cycle comes round (which it no
                # longer checks here), so this one run's steps are added now.
                state = task.state if task.has_state(TaskState.PREDICTED_MASK) else TaskState.FUTURE
                for output in task.task_spec.outputs:
                    child = task._add_child(output, state)
                    child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
        else:
            task.cancel()


def _subtree_ids(task) -> set:
    ids, stack = set(), [task]
    while stack:
        node = stack.pop()
        ids.add(node.id)
        stack.extend(node.children)
    return ids


def compact_loop_history(workflow: BpmnWorkflow) -> int:
    """Splice finished loop iterations out of the task tree; returns how many tasks were removed.

    SpiffWorkflow keeps every executed task, so each pass round a loop (rectify → reject → rectify ...)
    makes the tree, and with it every later step, bigger. When a task's spec occurs again further down
    the same branch and everything in between is finished, the earlier occurrence and its finished
    subtree are dropped and the later occurrence takes its place under the same parent. The hazard's
    history is kept in Rectiflow's own event log, not in the tree.
    """
    removed = 0
    active = [t for t in workflow.tasks.values() if t.state & TaskState.NOT_FINISHED_MASK]
    for leaf in active:
        if leaf.id not in workflow.tasks:
            continue
        chain = []  # leaf's ancestors, nearest first
        node = leaf.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        last_seen: dict = {}
        for task in chain:  # nearest first, so the dict keeps the occurrence nearest the leaf
            last_seen.setdefault(task.task_spec.name, task)
        for task in reversed(chain):  # from the root: the earliest occurrence of a repeated spec
            later = last_seen.get(task.task_spec.name)
            # Only a finished task may move: one still waiting would copy its data again from the
            # new parent when it becomes ready, losing what the loop wrote in between.
            if later is None or later is task or task.parent is None or not later.state & TaskState.COMPLETED:
                continue
            drop = _subtree_ids(task) - _subtree_ids(later)
            if any(not (workflow.tasks[i].state & TaskState.FINISHED_MASK) for i in drop):
                continue
            parent = task.parent
            parent._children = [later.id if c == task.id else c for c in parent._children]
            later._parent = parent.id
            for task_id in drop:
                del workflow.tasks[task_id]
            removed += len(drop)
            break  # the chain changed; the next active task walks the new one
    return removed
