"""Incidents: a process step that failed at run time, kept on its instance until a retry or a completion resolves it.

Where they come from (each written in its own transaction, after the failed step rolled back):

* completing a user task (`task`): a script, gateway condition, DMN table or service task after it raised; the
  user gets WorkflowFailed (HTTP 422) naming the element and the missing variable, the task stays open, and the
  incident resolves when the task is completed (by the user, or by a retry that submits the same form again);
* the timer sweep (`timer`): the instance's timer is taken off the sweep (next_timer_at cleared) so it is not tried
  again every minute; a retry fires it again;
* a deferred message delivery (`message`): the message's own backoff keeps trying; a success resolves it;
* the engine steps after a message started an instance (`start`): the instance is kept where the message left it.

One failing step has one open incident: failing again updates its message and count. The process's deploying
designer (else the administrators of its organisation) is told through the outbox when an incident opens.
Retrying (`retry_incident`) re-runs the step; an administrator may first fix the data (`set_variables`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from SpiffWorkflow.util.task import TaskState as SpiffTaskState
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.org.models import OrgNode, User
from engine.org.scope import orgs_under
from engine.process.events import record_event
from engine.process.models import (
    HumanTask,
    Incident,
    ProcessDefinition,
    ProcessInstance,
)
from engine.process.outbox import enqueue

OPERATOR_ROLES = {"process_designer", "admin"}
_NAME_ERROR = re.compile(r"name '([^']+)' is not defined")
_KEY_ERROR = re.compile(r"KeyError:\s*'([^']+)'")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Failure:
    """What failed, read from SpiffWorkflow's exception: the element, the missing variable, the error text."""

    element_id: str | None
    element_name: str | None
    variable: str | None
    detail: str

    @property
    def message(self) -> str:
        """One sentence for the user and the incident list: element name and id, the error, the missing variable."""
        where = ""
        if self.element_id:
            where = f"{self.element_name!r} ({self.element_id})" if self.element_name else self.element_id
            where += " failed: "
        missing = f"; missing variable {self.variable!r}" if self.variable else ""
        return f"{where}{self.detail}{missing}"[:4000]


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _missing_variable(exc: BaseException) -> str | None:
    for link in _chain(exc):
        if isinstance(link, NameError) and getattr(link, "name", None):
            return link.name
        if isinstance(link, KeyError) and link.args and isinstance(link.args[0], str):
            return link.args[0]
        text = str(link)
        found = _NAME_ERROR.search(text) or _KEY_ERROR.search(text)
        if found:
            return found.group(1)
    return None


def _failing_spec(exc: BaseException, workflow):
    for link in _chain(exc):
        element_id = (getattr(link, "details", None) or {}).get("element_id")
        if element_id and workflow is not None:  # a step of ours that names its element (operators.write_effects)
            for wf in (workflow, *getattr(workflow, "subprocesses", {}).values()):
                spec = next((ts for ts in wf.spec.task_specs.values() if ts.bpmn_id == element_id), None)
                if spec is not None:
                    return spec
        task = getattr(link, "task", None)
        if task is not None and getattr(task, "task_spec", None) is not None:
            return task.task_spec
        spec = getattr(link, "task_spec", None)
        if spec is not None and hasattr(spec, "bpmn_id"):
            return spec
    if workflow is not None:  # SpiffWorkflow marks the task it was running as ERROR before it re-raises
        for wf in (workflow, *getattr(workflow, "subprocesses", {}).values()):
            for task in wf.get_tasks(state=SpiffTaskState.ERROR):
                return task.task_spec
    return None


def describe_failure(exc: BaseException, workflow=None) -> Failure:
    """The failing element (id and name) and missing variable of an exception raised while advancing a workflow."""
    spec = _failing_spec(exc, workflow)
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if getattr(exc, "error_line", None):
        detail = f"{detail} (line {exc.line_number}: {exc.error_line.strip()})"
    element_id = (getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)) if spec is not None else None
    element_name = getattr(spec, "bpmn_name", None) if spec is not None else None
    return Failure(element_id, element_name, _missing_variable(exc), detail.strip())


def _instance_org(s: Session, instance: ProcessInstance, task: HumanTask | None, workflow_data: dict | None) -> int | None:
    if task is not None and task.candidate_org_id:
        return task.candidate_org_id
    for key in ("school_id", "org_id"):
        value = (workflow_data or {}).get(key)
        if isinstance(value, int) and s.get(OrgNode, value) is not None:
            return value
    deployer = s.get(User, instance.definition.deployed_by_id) if instance.definition.deployed_by_id else None
    return deployer.org_id if deployer else None


def record_incident(s: Session, now: datetime, instance_id: int, kind: str, failure: Failure, *,
                    task_id: int | None = None, message_id: int | None = None, form_data: dict | None = None,
                    submitted_by_id: int | None = None, workflow_data: dict | None = None) -> Incident:
    """Open an incident for a failed step in the caller's transaction, or update the step's open one."""
    incident = s.scalars(select(Incident).where(
        Incident.instance_id == instance_id, Incident.kind == kind, Incident.status == "open",
        Incident.task_id.is_(None) if task_id is None else Incident.task_id == task_id,
        Incident.message_id.is_(None) if message_id is None else Incident.message_id == message_id)).first()
    fields = {"element_id": failure.element_id, "element_name": (failure.element_name or "")[:200] or None,
              "variable": (failure.variable or "")[:100] or None, "message": failure.message, "failed_at": now}
    if form_data is not None:
        fields.update(form_data=form_data, submitted_by_id=submitted_by_id)
    if incident is not None:
        for name, value in fields.items():
            setattr(incident, name, value)
        incident.failures += 1
        record_event(s, now, "IncidentFailedAgain", None, instance_id=instance_id, task_id=task_id,
                     incident_id=incident.id, message=failure.message)
        return incident
    instance = s.get(ProcessInstance, instance_id)
    task = s.get(HumanTask, task_id) if task_id else None
    incident = Incident(instance_id=instance_id, task_id=task_id, message_id=message_id, kind=kind, status="open",
                        org_id=_instance_org(s, instance, task, workflow_data), failures=1, created_at=now, **fields)
    s.add(incident)
    s.flush()
    record_event(s, now, "IncidentOpened", None, instance_id=instance_id, task_id=task_id, incident_id=incident.id,
                 incident_kind=kind, element_id=failure.element_id, message=failure.message)
    _notify_designer(s, now, instance, incident)
    return incident


def _notify_designer(s: Session, now: datetime, instance: ProcessInstance, incident: Incident) -> None:
    definition: ProcessDefinition = instance.definition
    payload = {"name": f"{definition.name}: {incident.element_name or incident.element_id or incident.kind}",
               "incident_id": incident.id, "instance_id": instance.id, "reason": incident.message[:500]}
    if definition.deployed_by_id:
        enqueue(s, now, "incident_opened", payload, user_id=definition.deployed_by_id)
    elif incident.org_id:
        enqueue(s, now, "incident_opened", payload, role="admin", org_id=incident.org_id)


def resolve_incidents(s: Session, now: datetime, user_id: int | None, *, task_id: int | None = None,
                      instance_id: int | None = None, kinds: tuple[str, ...] = (),
                      message_id: int | None = None) -> int:
    """Resolve the open incidents of a task, a message, or an instance's steps of these kinds; how many."""
    stmt = select(Incident).where(Incident.status == "open")
    if task_id is not None:
        stmt = stmt.where(Incident.task_id == task_id)
    if message_id is not None:
        stmt = stmt.where(Incident.message_id == message_id)
    if instance_id is not None:
        stmt = stmt.where(Incident.instance_id == instance_id)
    if kinds:
        stmt = stmt.where(Incident.kind.in_(kinds))
    count = 0
    for incident in s.scalars(stmt):
        incident.status, incident.resolved_at, incident.resolved_by_id = "resolved", now, user_id
        record_event(s, now, "IncidentResolved", user_id, instance_id=incident.instance_id, task_id=incident.task_id,
                     incident_id=incident.id)
        count += 1
    return count


# -- who may see and act on incidents ----------------------------------------------------------------
def operator_paths(s: Session, user: User) -> tuple[str, ...]:
    """The org paths under which the user holds a designer or administrator role."""
    ids = {g.org_id for g in user.grants if g.role in OPERATOR_ROLES}
    return tuple(sorted(s.scalars(select(OrgNode.path).where(OrgNode.id.in_(ids))))) if ids else ()


def _visible_clause(s: Session, user: User):
    paths = operator_paths(s, user)
    if not paths:
        raise NotAllowed("only process designers and administrators see incidents")
    clause = Incident.org_id.in_(orgs_under(paths))
    if any(g.role == "admin" for g in user.grants):
        clause = or_(clause, Incident.org_id.is_(None))  # an incident with no organisation: administrators only
    return clause


def list_incidents(s: Session, user: User, status: str | None = "open", instance_id: int | None = None,
                   limit: int = 100, before_id: int | None = None) -> list[Incident]:
    """Incidents in the user's scope, newest first (keyset paged by `before_id`); NotAllowed for other roles."""
    stmt = select(Incident).where(_visible_clause(s, user)).order_by(Incident.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Incident.status == status)
    if instance_id is not None:
        stmt = stmt.where(Incident.instance_id == instance_id)
    if before_id is not None:
        stmt = stmt.where(Incident.id < before_id)
    return list(s.scalars(stmt))


def get_incident(s: Session, user: User, incident_id: int) -> Incident:
    """One incident in the user's scope (NotFound outside it, so ids do not leak)."""
    incident = s.scalars(select(Incident).where(Incident.id == incident_id, _visible_clause(s, user))).first()
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return incident


def admin_covers(s: Session, user: User, instance: ProcessInstance, workflow_data: dict | None) -> bool:
    """True when the user is an administrator at (or above) the instance's organisation."""
    ids = {g.org_id for g in user.grants if g.role == "admin"}
    if not ids:
        return False
    org_id = _instance_org(s, instance, None, workflow_data)
    if org_id is None:
        return True
    path = s.scalar(select(OrgNode.path).where(OrgNode.id == org_id)) or ""
    return any(path.startswith(p) for p in s.scalars(select(OrgNode.path).where(OrgNode.id.in_(ids))))


def checked_variables(values: dict | None, remove: list | None) -> tuple[dict, list]:
    """Variable names an administrator may set or remove: plain identifiers, not starting with an underscore."""
    values, remove = dict(values or {}), list(remove or [])
    bad = [k for k in [*values, *remove] if not isinstance(k, str) or not _VARIABLE.match(k) or k.startswith("_")]
    if bad:
        raise InvalidFormData(f"not variable names: {', '.join(map(str, bad))}",
                              [{"field": f"variables/{k}", "message": "letters, digits and _, not starting with _"}
                               for k in bad])
    return values, remove


def set_workflow_variables(workflow, values: dict, remove: list) -> dict:
    """Write variables into the data of every task that is waiting or ready (where the next step reads them).

    Returns what the changed names held before (in the first such task that had them), for the audit trail."""
    before: dict = {}
    waiting = SpiffTaskState.READY | SpiffTaskState.WAITING | SpiffTaskState.STARTED | SpiffTaskState.ERROR
    for wf in (workflow, *workflow.subprocesses.values()):
        for task in wf.get_tasks(state=waiting):
            # A waiting event copies its parent's data again each time it is checked: change the parent's too.
            for name in [*values, *remove]:
                if name in task.data:
                    before.setdefault(name, task.data[name])
            for holder in (task, task.parent) if task.parent is not None else (task,):
                holder.data.update(values)
                for name in remove:
                    holder.data.pop(name, None)
    workflow.data.update(values)
    for name in remove:
        workflow.data.pop(name, None)
    return before
