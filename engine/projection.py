"""After every advance: store the workflow, project its ready user tasks into inbox rows, sync the hazard."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .db import is_postgres
from .deadlines import plan_task
from .errors import InvalidFormData, NotFound, WorkflowFailed
from .messaging import route_events, take_events
from .models import Event, Hazard, HumanTask, OrgNode, OutboxMessage, ProcessInstance
from .scripting import evaluate_expression

CHINA = ZoneInfo("Asia/Shanghai")
# A date-only deadline means the end of that working day in China.
END_OF_WORKDAY = time(18, 0)
STAGE_ORDER = ("discover", "register", "report", "rectify", "accept", "close", "archive")
# Where a task's candidates sit when the diagram does not say (a role policy, not a lifecycle rule).
DEFAULT_CANDIDATE_ORG = {
    "supervisor": "bureau_id",
    "department_staff": "responsible_unit_id",
    "department_head": "responsible_unit_id",
    "grid_officer": "responsible_unit_id",
}
# Process data copied onto the hazard's ledger columns after each step.
_TEXT_FIELDS = (
    "location", "check_item", "problem", "measures", "completion", "responsible_person", "remarks", "category",
    "grade", "plan_owner", "plan_measures", "plan_contingency", "plan_funds", "temporary_measures",
)
_DATE_FIELDS = ("deadline", "plan_deadline", "checked_at")


def record_event(session: Session, now: datetime, kind: str, actor_id: int | None = None, *,
                 instance_id: int | None = None, hazard_id: int | None = None, task_id: int | None = None,
                 **data) -> Event:
    """Append one audit event in the caller's transaction."""
    event = Event(occurred_at=now, kind=kind, actor_id=actor_id, instance_id=instance_id, hazard_id=hazard_id,
                  task_id=task_id, data=data)
    session.add(event)
    return event


def lock_instance(session: Session, instance_id: int, skip_locked: bool = False) -> ProcessInstance | None:
    """Load an instance row locked for this transaction (FOR UPDATE on PostgreSQL; SQLite holds a write lock)."""
    stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=skip_locked)
    instance = session.scalars(stmt).first()
    if instance is None and not skip_locked:
        raise NotFound(f"process instance {instance_id} does not exist")
    return instance


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


def _as_date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class Projector:
    """Writes one advance of one instance: state, task rows, hazard columns, events, outbox, in the caller's transaction."""

    def __init__(self, session: Session, runtime, now: datetime, actor_id: int | None):
        self.session = session
        self.runtime = runtime
        self.now = now
        self.actor_id = actor_id

    def new_instance(self, definition, business_key: str | None) -> ProcessInstance:
        """Add the row of a freshly started instance (its state is written by persist())."""
        instance = ProcessInstance(definition_id=definition.id, business_key=business_key, status="running",
                                   state_json="{}", started_at=self.now, updated_at=self.now)
        instance.definition = definition
        self.session.add(instance)
        self.session.flush()
        return instance

    def persist(self, instance: ProcessInstance, workflow, hazard: Hazard | None) -> list[HumanTask]:
        """Store the workflow and bring every projection in line with it; returns newly created tasks."""
        events = take_events(workflow)  # thrown messages leave the tree before it is stored
        try:
            instance.state_json = self.runtime.dump(workflow)
        except Exception as exc:
            raise WorkflowFailed(f"process data cannot be stored: {exc}") from None
        instance.updated_at = self.now
        instance.next_timer_at = self.runtime.next_timer_at(workflow)
        if workflow.completed and instance.status != "completed":
            instance.status = "completed"
            instance.completed_at = self.now
            instance.next_timer_at = None
        created, open_tasks = self._project_tasks(instance, workflow, hazard)
        if hazard is not None:
            self._sync_hazard(instance, workflow, hazard, open_tasks)
        route_events(self, instance, workflow, hazard, events)  # start/deliver to other instances (messaging.py)
        return created

    # -- tasks ---------------------------------------------------------------------------------
    def _project_tasks(self, instance, workflow, hazard):
        meta = instance.definition.task_meta
        open_rows = {
            row.spiff_task_id: row
            for row in self.session.scalars(
                select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.state == "ready")
            )
        }
        ready = {str(task.id): task for task in self.runtime.ready_user_tasks(workflow)}
        for spiff_id, row in open_rows.items():
            if spiff_id not in ready:
                row.state = "cancelled"
                row.completed_at = self.now
                record_event(self.session, self.now, "TaskCancelled", self.actor_id, instance_id=instance.id,
                             hazard_id=row.hazard_id, task_id=row.id, bpmn_id=row.bpmn_id, name=row.name)
        created = []
        for spiff_id, task in ready.items():
            if spiff_id in open_rows:
                continue
            created.append(self._new_task(instance, hazard, task, meta.get(task.task_spec.bpmn_id, {})))
        self.session.flush()
        for row in created:
            record_event(self.session, self.now, "TaskCreated", self.actor_id, instance_id=instance.id,
                         hazard_id=row.hazard_id, task_id=row.id, bpmn_id=row.bpmn_id, name=row.name,
                         candidate_role=row.candidate_role, candidate_org_id=row.candidate_org_id,
                         due_at=row.due_at.isoformat() if row.due_at else None)
            self.session.add(OutboxMessage(
                created_at=self.now, kind="task_created", recipient_role=row.candidate_role,
                recipient_org_id=row.candidate_org_id, status="pending", next_attempt_at=self.now,
                payload={"task_id": row.id, "name": row.name, "hazard_id": row.hazard_id,
                         "due_at": row.due_at.isoformat() if row.due_at else None},
            ))
        still_open = [r for s, r in open_rows.items() if s in ready] + created
        return created, still_open

    def _new_task(self, instance, hazard, task, meta: dict) -> HumanTask:
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
            instance_id=instance.id, hazard_id=hazard.id if hazard else None, spiff_task_id=str(task.id),
            bpmn_id=task.task_spec.bpmn_id,
            name=name or meta.get("name") or task.task_spec.bpmn_name or task.task_spec.bpmn_id,
            lane=role, stage=meta.get("stage"), candidate_role=role,
            candidate_org_id=int(candidate_org) if candidate_org is not None else None,
            due_at=due_at, priority=meta.get("priority", 50), state="ready", form=meta.get("form"),
            created_at=self.now,
        )
        plan_task(self.session, instance.definition, row, bool(meta.get("due_expression")), self.now)
        self.session.add(row)
        return row

    # -- hazard --------------------------------------------------------------------------------
    def _sync_hazard(self, instance, workflow, hazard: Hazard, open_tasks: list[HumanTask]) -> None:
        data = workflow.last_task.data if workflow.last_task is not None else {}
        for name in _TEXT_FIELDS:
            if data.get(name) not in (None, ""):
                setattr(hazard, name, data[name])
        for name in _DATE_FIELDS:
            if data.get(name):
                setattr(hazard, name, _as_date(data[name]))
        unit_id = data.get("responsible_unit_id")
        if unit_id and int(unit_id) != hazard.unit_id:
            self.assign_unit(hazard, int(unit_id))
        if workflow.completed:
            status = "archive"
        elif data.get("closed"):
            status = "close"
        elif open_tasks:
            status = max((t.stage or "discover" for t in open_tasks), key=STAGE_ORDER.index)
        else:
            status = hazard.status
        if data.get("closed") and hazard.closed_at is None:
            hazard.closed_at = self.now
            record_event(self.session, self.now, "HazardClosed", self.actor_id, instance_id=instance.id,
                         hazard_id=hazard.id)
        if status == "archive" and hazard.status != "archive":
            record_event(self.session, self.now, "HazardArchived", self.actor_id, instance_id=instance.id,
                         hazard_id=hazard.id)
        hazard.status = status
        hazard.updated_at = self.now

    def assign_unit(self, hazard: Hazard, unit_id: int) -> None:
        """Make `unit_id` responsible, giving the hazard the unit's next ledger 序号."""
        stmt = select(OrgNode).where(OrgNode.id == unit_id)
        if is_postgres(self.session):
            stmt = stmt.with_for_update()  # serialises 序号 allocation per unit
        unit = self.session.scalars(stmt).first()
        school = self.session.get(OrgNode, hazard.school_id)
        if unit is None or school is None or not unit.path.startswith(school.path):
            raise InvalidFormData(
                f"responsible unit {unit_id} is not part of this school",
                [{"field": "responsible_unit_id", "message": "not a unit of this school"}],
            )
        last = self.session.scalar(select(func.max(Hazard.unit_serial)).where(Hazard.unit_id == unit_id))
        hazard.unit_id = unit_id
        hazard.unit_serial = (last or 0) + 1
