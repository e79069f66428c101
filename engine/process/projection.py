"""After every advance: store the workflow, project its ready user tasks into inbox rows, tell the subjects."""
from __future__ import annotations

from datetime import date, datetime, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import WorkflowFailed
from engine.infra.timezone import CHINA, END_OF_WORKDAY
from engine.process.deadlines import plan_task
from engine.process.events import record_event
from engine.process.hooks import Advance, Hooks
from engine.process.lifecycle import InstanceState, TaskState
from engine.process.messaging import route_events, take_events
from engine.process.models import HumanTask, ProcessInstance
from engine.process.operators import take_effects, write_effects
from engine.process.outbox import enqueue
from engine.process.scripting import evaluate_expression

# Where a task's candidates sit when the diagram does not say (a role policy, not a lifecycle rule).
DEFAULT_CANDIDATE_ORG = {
    "supervisor": "bureau_id",
    "department_staff": "responsible_unit_id",
    "department_head": "responsible_unit_id",
    "grid_officer": "responsible_unit_id",
}


def parse_due(value, now: datetime) -> datetime | None:
    """Turn a diagram's due value (date, datetime or ISO string, or ISO duration) into an aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=CHINA)).astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, END_OF_WORKDAY, CHINA).astimezone(timezone.utc)
    text = str(value).strip()
    if text.startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        return now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
    if len(text) == 10:
        return parse_due(date.fromisoformat(text), now)
    return parse_due(datetime.fromisoformat(text), now)


class Projector:
    """Writes one advance of one instance (state, task rows, events, outbox, hooks) in the caller's transaction."""

    def __init__(self, session: Session, runtime, hooks: Hooks, now: datetime, actor_id: int | None):
        self.session = session
        self.runtime = runtime
        self.hooks = hooks
        self.now = now
        self.actor_id = actor_id

    def for_session(self, session: Session) -> "Projector":
        """The same writer (runtime, hooks, time, actor) for another transaction."""
        return Projector(session, self.runtime, self.hooks, self.now, self.actor_id)

    def new_instance(self, definition, business_key: str | None) -> ProcessInstance:
        """Add the row of a freshly started instance (its state is written by persist())."""
        instance = ProcessInstance(definition_id=definition.id, business_key=business_key, status=InstanceState.RUNNING,
                                   state_json="{}", started_at=self.now, updated_at=self.now)
        instance.definition = definition
        self.session.add(instance)
        self.session.flush()
        return instance

    def persist(self, instance: ProcessInstance, workflow, subject=None) -> list[HumanTask]:
        """Store the workflow and bring every projection in line with it; returns newly created tasks.

        `subject` is the row the instance's business key names (a hazard), when the caller has it at hand;
        otherwise the registered subject kind loads it."""
        events = take_events(workflow)  # thrown messages leave the tree before it is stored
        try:
            instance.state_json = self.runtime.dump(workflow)
        except Exception as exc:
            raise WorkflowFailed(f"process data cannot be stored: {exc}") from None
        instance.updated_at = self.now
        instance.next_timer_at = self.runtime.next_timer_at(workflow)
        write_effects(self.session, self.now, instance, take_effects(workflow))  # service tasks' notify/http_post
        if workflow.completed and instance.status != InstanceState.COMPLETED:
            instance.status = InstanceState.COMPLETED
            instance.completed_at = self.now
            instance.next_timer_at = None
        if subject is None:
            subject = self.hooks.subject_of(self.session, instance)
        created, open_tasks = self._project_tasks(instance, workflow, subject)
        advance = Advance(self, instance, workflow, subject, open_tasks, created)
        self.hooks.advanced(advance)  # subjects bring their own rows in line (a hazard's ledger columns)
        # Start or deliver to other instances (messaging.py), then let subjects raise their own messages.
        advance.new_subscriptions = route_events(self, instance, workflow, events)
        self.hooks.routed(advance)
        return created

    # -- tasks ---------------------------------------------------------------------------------
    def _project_tasks(self, instance, workflow, subject):
        meta = instance.definition.task_meta
        open_rows = {
            row.spiff_task_id: row
            for row in self.session.scalars(
                select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.state == TaskState.READY)
            )
        }
        ready = {str(task.id): task for task in self.runtime.ready_user_tasks(workflow)}
        for spiff_id, row in open_rows.items():
            if spiff_id not in ready:
                row.state = TaskState.CANCELLED
                row.completed_at = self.now
                record_event(self.session, self.now, "TaskCancelled", self.actor_id, instance_id=instance.id,
                             hazard_id=row.hazard_id, task_id=row.id, bpmn_id=row.bpmn_id, name=row.name)
        created = []
        link = self.hooks.task_link(instance, subject) if ready.keys() - open_rows.keys() else {}
        for spiff_id, task in ready.items():
            if spiff_id in open_rows:
                continue
            created.append(self._new_task(instance, link, task, meta.get(task.task_spec.bpmn_id, {})))
        self.session.flush()
        for row in created:
            record_event(self.session, self.now, "TaskCreated", self.actor_id, instance_id=instance.id,
                         hazard_id=row.hazard_id, task_id=row.id, bpmn_id=row.bpmn_id, name=row.name,
                         candidate_role=row.candidate_role, candidate_org_id=row.candidate_org_id,
                         due_at=row.due_at.isoformat() if row.due_at else None)
            enqueue(self.session, self.now, "task_created",
                    {"task_id": row.id, "name": row.name, "hazard_id": row.hazard_id,
                     "due_at": row.due_at.isoformat() if row.due_at else None},
                    role=row.candidate_role, org_id=row.candidate_org_id)
        still_open = [r for s, r in open_rows.items() if s in ready] + created
        return created, still_open

    def _new_task(self, instance, link: dict, task, meta: dict) -> HumanTask:
        data = task.data
        role = meta.get("lane") or task.task_spec.lane
        org_expr = meta.get("candidate_org") or DEFAULT_CANDIDATE_ORG.get(role, "school_id")
        try:
            candidate_org = evaluate_expression(org_expr, data)
            due_value = (evaluate_expression(meta["due_expression"], data) if meta.get("due_expression")
                         else meta.get("due_duration"))
            due_at = parse_due(due_value, self.now)
            # nameExpression: an inbox title from the data (a patrol's sites), else the diagram's task name.
            name_expr = (meta.get("properties") or {}).get("nameExpression")
            name = str(evaluate_expression(name_expr, data) or "").strip()[:200] if name_expr else ""
        except Exception as exc:
            raise WorkflowFailed(
                f"task {task.task_spec.bpmn_id!r}: cannot work out its candidates, due time or name: {exc}"
            ) from None
        row = HumanTask(
            instance_id=instance.id, spiff_task_id=str(task.id),
            bpmn_id=task.task_spec.bpmn_id,
            name=name or meta.get("name") or task.task_spec.bpmn_name or task.task_spec.bpmn_id,
            lane=role, stage=meta.get("stage"), candidate_role=role,
            candidate_org_id=int(candidate_org) if candidate_org is not None else None,
            due_at=due_at, priority=meta.get("priority", 50), state=TaskState.READY, form=meta.get("form"),
            created_at=self.now, **link,
        )
        plan_task(self.session, instance.definition, row, bool(meta.get("due_expression")), self.now)
        self.session.add(row)
        return row
