"""After every advance: store the workflow, project its ready user tasks into inbox rows, tell the subjects."""
from __future__ import annotations

from datetime import date, datetime, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import WorkflowFailed
from engine.infra.timezone import CHINA, END_OF_WORKDAY
from engine.org.models import ROLES, User
from engine.process.assignment import DEFAULT_ROLE, resolve_role, split_group
from engine.process.bell import read_follows_closed_tasks
from engine.process.candidates import is_candidate
from engine.process.deadlines import plan_task
from engine.process.events import record_event
from engine.process.hooks import Advance, Hooks
from engine.process.lifecycle import InstanceState, TaskState
from engine.process.messaging import route_events, take_events
from engine.process.models import HumanTask, ProcessInstance, TaskCandidate
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
                                   state_json="{}", started_at=self.now, updated_at=self.now,
                                   started_by_id=self.actor_id)
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
        cancelled = [row for spiff_id, row in open_rows.items() if spiff_id not in ready]
        read_follows_closed_tasks(self.session, self.now, [row.id for row in cancelled])
        for row in cancelled:
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
            extra = {"assignee_id": row.assignee_id} if row.assignee_id else {}
            record_event(self.session, self.now, "TaskCreated", self.actor_id, instance_id=instance.id,
                         hazard_id=row.hazard_id, task_id=row.id, bpmn_id=row.bpmn_id, name=row.name,
                         candidate_role=row.candidate_role, candidate_org_id=row.candidate_org_id,
                         due_at=row.due_at.isoformat() if row.due_at else None, **extra)
            payload = {"task_id": row.id, "name": row.name, "hazard_id": row.hazard_id,
                       "due_at": row.due_at.isoformat() if row.due_at else None}
            if row.assignee_id:  # in someone's hands from the start (camunda:assignee, the starter)
                enqueue(self.session, self.now, "task_created", payload, user_id=row.assignee_id)
                continue
            if row.candidate_role:
                enqueue(self.session, self.now, "task_created", payload, role=row.candidate_role,
                        org_id=row.candidate_org_id)
            for candidate in row.candidates:
                enqueue(self.session, self.now, "task_created", payload, user_id=candidate.user_id,
                        role=candidate.role, org_id=candidate.org_id)
        still_open = [r for s, r in open_rows.items() if s in ready] + created
        return created, still_open

    def _new_task(self, instance, link: dict, task, meta: dict) -> HumanTask:
        data = task.data
        role = meta.get("lane") or (task.task_spec.lane if task.task_spec.lane in ROLES else None)
        org_expr = meta.get("candidate_org")
        groups = list(meta.get("candidate_groups") or [])
        role_map = instance.definition.role_map or {}
        try:
            resolved = [self._group(g, data, role_map) for g in groups]
            if role is None and resolved:
                role, org_expr = resolved.pop(0)
                org_expr = org_expr or meta.get("candidate_org")
            candidate_org = self._candidate_org(role, org_expr, data) if role else None
            others = [(r, self._candidate_org(r, o, data)) for r, o in resolved]
            assignees = self._user_ids([evaluate_expression(meta["assignee"], data)], meta) \
                if meta.get("assignee") else []
            assignee = assignees[0] if assignees else None
            preferred = self._preferred(meta, data) if assignee is None else None
            users = self._user_ids([evaluate_expression(e, data) for e in meta.get("candidate_users") or []], meta)
            due_value = (evaluate_expression(meta["due_expression"], data) if meta.get("due_expression")
                         else meta.get("due_duration"))
            due_at = parse_due(due_value, self.now)
            follow_value = (evaluate_expression(meta["follow_up_expression"], data)
                            if meta.get("follow_up_expression") else meta.get("follow_up_duration"))
            follow_up_at = parse_due(follow_value, self.now)
            priority = (int(evaluate_expression(meta["priority_expression"], data))
                        if meta.get("priority_expression") else meta.get("priority", 50))
            # nameExpression: an inbox title from the data (a patrol's sites), else the diagram's task name.
            name_expr = (meta.get("properties") or {}).get("nameExpression")
            name = str(evaluate_expression(name_expr, data) or "").strip()[:200] if name_expr else ""
        except WorkflowFailed:
            raise
        except Exception as exc:
            raise WorkflowFailed(
                f"task {task.task_spec.bpmn_id!r}: cannot work out its candidates, due time or name: {exc}"
            ) from None
        if meta.get("starter") and assignee is None and role is None and not users:
            # A task with no lane and no assignment goes to whoever started the instance (SpiffArena's rule).
            assignee = instance.started_by_id
            if assignee is None:
                raise WorkflowFailed(f"task {task.task_spec.bpmn_id!r} has no lane or assignment and goes to the "
                                     "instance's starter, but this instance was not started by a person")
        row = HumanTask(
            instance_id=instance.id, spiff_task_id=str(task.id),
            bpmn_id=task.task_spec.bpmn_id,
            name=name or meta.get("name") or task.task_spec.bpmn_name or task.task_spec.bpmn_id,
            lane=role, stage=meta.get("stage"), candidate_role=role,
            candidate_org_id=int(candidate_org) if candidate_org is not None else None,
            assignee_id=assignee, claimed_at=self.now if assignee else None,
            due_at=due_at, follow_up_at=follow_up_at, priority=priority, state=TaskState.READY,
            form=meta.get("form"), created_at=self.now, **link,
        )
        row.candidates = ([TaskCandidate(user_id=u) for u in dict.fromkeys(users)]
                          + [TaskCandidate(role=r, org_id=int(o)) for r, o in others if o is not None])
        if preferred is not None and is_candidate(self.session, row, preferred):
            row.assignee_id, row.claimed_at = preferred, self.now
        plan_task(self.session, instance.definition, row, bool(meta.get("due_expression")), self.now)
        self.session.add(row)
        return row

    def _preferred(self, meta: dict, data: dict) -> int | None:
        """The user a `preferredAssignee` expression names (e.g. whoever did the step before), or None.

        Only a preference: the task goes straight to that person while they are one of its candidates (active,
        holding its role at its organisation, not excluded), else to its group as usual. A name the data does not
        carry yet (the step was never done) or a user who no longer exists means no one is preferred."""
        expression = (meta.get("properties") or {}).get("preferredAssignee")
        if not expression:
            return None
        try:
            found = self._user_ids([evaluate_expression(expression, data)], meta)
        except (NameError, WorkflowFailed):
            return None
        return found[0] if found else None

    @staticmethod
    def _group(group: dict, data: dict, role_map: dict) -> tuple[str, str | None]:
        """(role, organisation expression) of one candidate group; a group named by an expression is mapped now."""
        if group.get("role"):
            return group["role"], group.get("org")
        name = str(evaluate_expression(group["role_expression"], data) or "").strip()
        mapped = resolve_role(split_group(name)[0], role_map) if name else None
        role, org = split_group(mapped) if mapped else (None, None)
        if role not in ROLES:
            raise WorkflowFailed(f"candidate group {name!r} is not a role and the role map "
                                 f"({', '.join(k for k in role_map if k != DEFAULT_ROLE) or 'empty'}) does not name it")
        return role, split_group(name)[1] or org

    @staticmethod
    def _candidate_org(role: str, expression: str | None, data: dict):
        """The organisation whose role holders are candidates: the diagram's expression, else the role's default."""
        if expression:
            return evaluate_expression(expression, data)
        # The default names a variable the shipped processes always carry; a foreign process may carry only the
        # starter's context (org_id, school_id), so those stand in when it is missing.
        for name in (DEFAULT_CANDIDATE_ORG.get(role, "school_id"), "org_id", "school_id"):
            if name in data:
                return data[name]
        return None

    def _user_ids(self, values: list, meta: dict) -> list[int]:
        """User ids for assignee/candidate values: ids, usernames, or lists of them; an unknown name is refused."""
        refs: list = []
        for value in values:
            if isinstance(value, (list, tuple, set)):
                refs.extend(value)
            elif isinstance(value, str) and "," in value:
                refs.extend(v.strip() for v in value.split(",") if v.strip())
            elif value not in (None, ""):
                refs.append(value)
        ids = {int(r) for r in refs if isinstance(r, int) or (isinstance(r, str) and r.isdigit())}
        names = {str(r) for r in refs if isinstance(r, str) and not r.isdigit()}
        found_ids = set(self.session.scalars(select(User.id).where(User.id.in_(ids)))) if ids else set()
        found_names = dict(self.session.execute(select(User.username, User.id).where(User.username.in_(names))).all()) \
            if names else {}
        missing = [str(i) for i in ids - found_ids] + sorted(names - found_names.keys())
        if missing:
            raise WorkflowFailed(f"task {meta.get('bpmn_id')!r}: no user {', '.join(missing)} (assignee or "
                                 "candidate users)")
        result = []
        for r in refs:
            result.append(int(r) if isinstance(r, int) or str(r).isdigit() else found_names[str(r)])
        return result
