"""Read side of instances: the process catalogue, instance lists (keyset paged) and one instance's page.

Who may see an instance: process designers and administrators, whoever started it, and whoever holds, is offered,
or completed one of its tasks. Every function here is a bounded number of statements, none per row.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.util.task import TaskState as SpiffTaskState
from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import Session, undefer

from engine.infra.db import Base
from engine.infra.errors import NotFound
from engine.org.models import User
from engine.process.hooks import Hooks, subject_owned_refusal
from engine.process.lifecycle import InstanceState, TaskState, offered_clause, open_clause
from engine.process.models import Event, HumanTask, ProcessDefinition, ProcessInstance
from engine.process.services import ADMIN_ROLE, DESIGNER_ROLES, starter_roles
from engine.process.tasklist import MAX_PAGE_SIZE

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
STARTED = "ProcessStarted"
_none_start_cache: dict[tuple[str, str], bool] = {}
_ACTIVE = SpiffTaskState.READY | SpiffTaskState.WAITING | SpiffTaskState.STARTED


def _roles(user: User) -> set[str]:
    return {g.role for g in user.grants}


def sees_every_instance(user: User) -> bool:
    """Process designers and administrators see every instance, with its variables."""
    return bool(DESIGNER_ROLES & _roles(user))


def may_cancel(user: User) -> bool:
    """Only administrators cancel instances (engine.process.services.Services.cancel_instance)."""
    return ADMIN_ROLE in _roles(user)


# -- the catalogue ------------------------------------------------------------------------------------------
def has_none_start_event(definition: ProcessDefinition) -> bool:
    """True when the process's own start events include one with no trigger (a person can start it)."""
    key = (definition.key, definition.sha256)
    if key not in _none_start_cache:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(definition.source_xml.encode("utf-8"), parser=parser)
        starts = root.xpath("//bpmn:process[@id=$pid]/bpmn:startEvent", namespaces={"bpmn": BPMN_NS},
                            pid=definition.key)
        _none_start_cache[key] = any(
            not any(isinstance(child.tag, str) and child.tag.endswith("EventDefinition") for child in start)
            for start in starts)
    return _none_start_cache[key]


@dataclass(frozen=True)
class CatalogueEntry:
    definition: ProcessDefinition
    start_form: dict | None  # JSON Schema of the start event's form


def start_form(definition: ProcessDefinition) -> dict | None:
    """The JSON Schema of a definition's start form, if its start event names one."""
    return definition.forms.get(definition.forms.get("__start__") or "") or None


def latest_definitions(s: Session) -> list[ProcessDefinition]:
    """The newest version of every deployed process, by name (one statement, the diagram text loaded with it)."""
    newest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.key).subquery())
    return list(s.scalars(
        select(ProcessDefinition).join(newest, and_(ProcessDefinition.key == newest.c.key,
                                                    ProcessDefinition.version == newest.c.version))
        .options(undefer(ProcessDefinition.source_xml)).order_by(ProcessDefinition.name, ProcessDefinition.key)))


def catalogue(s: Session, user: User, hooks: Hooks | None = None) -> list[CatalogueEntry]:
    """发起流程: every latest process with a none start event that this user's roles may start, except the
    subject-owned ones (a registered contract, `hooks`): those start through their subject's own page."""
    roles = _roles(user)
    return [CatalogueEntry(d, start_form(d)) for d in latest_definitions(s)
            if has_none_start_event(d) and starter_roles(d) & roles
            and not (hooks and hooks.subject_owned(d.key))]


def startable(s: Session, user: User, key: str, hooks: Hooks | None = None) -> CatalogueEntry:
    """One catalogue entry; NotFound when the process is not deployed or not in this user's catalogue,
    InvalidFormData (naming where it starts) when a subject owns it."""
    where = hooks.subject_owned(key) if hooks else None
    if where:
        raise subject_owned_refusal(key, where)
    entry = next((e for e in catalogue(s, user, hooks) if e.definition.key == key), None)
    if entry is None:
        raise NotFound(f"process {key!r} is not in your catalogue")
    return entry


# -- instance lists -----------------------------------------------------------------------------------------
def visible_instances_clause(user: User):
    """SQL clause over ProcessInstance: the instances this user may see."""
    if sees_every_instance(user):
        return true()
    started = select(Event.instance_id).where(Event.kind == STARTED, Event.actor_id == user.id,
                                              Event.instance_id.is_not(None))
    tasked = select(HumanTask.instance_id).where(or_(
        HumanTask.assignee_id == user.id, HumanTask.completed_by_id == user.id,
        and_(open_clause(), offered_clause(user))))
    return or_(ProcessInstance.id.in_(started), ProcessInstance.id.in_(tasked))


@dataclass(frozen=True)
class InstanceRow:
    instance: ProcessInstance
    definition: ProcessDefinition
    starter: str | None
    subject: dict | None

    def __getattr__(self, name):
        return getattr(self.instance, name)

    @property
    def key(self) -> str:
        return self.definition.key

    @property
    def version(self) -> int:
        return self.definition.version

    @property
    def process_name(self) -> str:
        return self.definition.name


@dataclass(frozen=True)
class InstancePage:
    items: list[InstanceRow]
    next_cursor: int | None  # pass back as `after` for the next (older) page


def _starters(s: Session, instance_ids: list[int]) -> dict[int, tuple[int, str]]:
    """instance id → (user id, display name) of whoever started it (one statement for a page)."""
    if not instance_ids:
        return {}
    rows = s.execute(select(Event.instance_id, User.id, User.display_name).join(User, User.id == Event.actor_id)
                     .where(Event.kind == STARTED, Event.instance_id.in_(instance_ids)))
    return {instance_id: (user_id, name) for instance_id, user_id, name in rows}


def list_instances(s: Session, user: User, key: str | None = None, definition_id: int | None = None,
                   status: str | None = None, after: int | None = None, limit: int = 50,
                   hooks=None) -> InstancePage:
    """Instances the user may see, newest first, keyset paged by id (`after` = the previous page's next_cursor)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    stmt = (select(ProcessInstance, ProcessDefinition)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(visible_instances_clause(user)))
    if key:
        stmt = stmt.where(ProcessDefinition.key == key)
    if definition_id:
        stmt = stmt.where(ProcessInstance.definition_id == definition_id)
    if status:
        stmt = stmt.where(ProcessInstance.status == status)
    if after:
        stmt = stmt.where(ProcessInstance.id < after)
    found = s.execute(stmt.order_by(ProcessInstance.id.desc()).limit(limit + 1)).all()
    more, found = len(found) > limit, found[:limit]
    starters = _starters(s, [i.id for i, _ in found])
    labels = hooks.describe(s, [i.business_key for i, _ in found]) if hooks is not None else {}
    items = [InstanceRow(i, d, (starters.get(i.id) or (None, None))[1], labels.get(i.business_key))
             for i, d in found]
    return InstancePage(items=items, next_cursor=items[-1].instance.id if more and items else None)


def get_visible_instance(s: Session, user: User, instance_id: int) -> ProcessInstance:
    """The instance if the user may see it; NotFound otherwise (ids reveal nothing)."""
    instance = s.scalars(select(ProcessInstance).where(ProcessInstance.id == instance_id,
                                                       visible_instances_clause(user))).first()
    if instance is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return instance


# -- one instance -------------------------------------------------------------------------------------------
def incidents_for(s: Session, instance_id: int) -> list[dict] | None:
    """The instance's incidents, newest first, when the incidents table is part of the schema (None otherwise).

    Read through the table's metadata rather than its model, so this read model works with or without it."""
    table = Base.metadata.tables.get("incidents")
    if table is None or "instance_id" not in table.c:
        return None
    order = table.c.get("created_at")
    order = order.desc() if order is not None else table.c.id.desc()
    return [dict(row) for row in s.execute(select(table).where(table.c.instance_id == instance_id)
                                           .order_by(order)).mappings()]


def _json_safe(data: dict) -> dict:
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def variables(workflow) -> dict:
    """The process data as it stands: the workflow's data with that of its current (or last) task."""
    data = dict(workflow.data)
    ready = workflow.get_tasks(state=SpiffTaskState.READY)
    current = ready[0] if ready else getattr(workflow, "last_task", None)
    if current is not None:
        data.update(current.data)
    return _json_safe(data)


def diagram_nodes(workflow, tasks: list[HumanTask]) -> tuple[list[str], list[str]]:
    """(active, done) BPMN element ids: waiting or ready now; completed (task rows keep compacted loop steps)."""
    active, done = set(), {t.bpmn_id for t in tasks if t.state == TaskState.COMPLETED}
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.state & _ACTIVE:
            active.add(bpmn_id)
        elif task.state == SpiffTaskState.COMPLETED:
            done.add(bpmn_id)
    return sorted(active), sorted(done - active)


@dataclass
class InstanceDetail:
    instance: ProcessInstance
    definition: ProcessDefinition
    starter: str | None
    subject: dict | None
    open_tasks: list[HumanTask]
    history: list[tuple[Event, str | None]]
    active: list[str]
    done: list[str]
    variables: dict | None  # designers and administrators only
    incidents: list[dict] | None  # None: no incidents table in this schema
    can_cancel: bool
    cancel_reason: str | None = None
    tasks: list[HumanTask] = field(default_factory=list)


def history(s: Session, instance_id: int) -> list[tuple[Event, str | None]]:
    """Every event of an instance in order, with the actor's display name."""
    stmt = (select(Event, User.display_name).outerjoin(User, Event.actor_id == User.id)
            .where(Event.instance_id == instance_id).order_by(Event.occurred_at, Event.id))
    return [(event, name) for event, name in s.execute(stmt)]


def instance_detail(s: Session, runtime, user: User, instance_id: int, hooks=None) -> InstanceDetail:
    """Everything the instance page and `GET /process-instances/{id}` show, for a user who may see it."""
    instance = get_visible_instance(s, user, instance_id)
    definition = s.scalars(select(ProcessDefinition).where(ProcessDefinition.id == instance.definition_id)
                           .options(undefer(ProcessDefinition.source_xml), undefer(ProcessDefinition.spec_json))).one()
    tasks = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id).order_by(HumanTask.id)))
    workflow = runtime.load(definition, instance.state_json)
    active, done = diagram_nodes(workflow, tasks)
    events = history(s, instance.id)
    starter = (_starters(s, [instance.id]).get(instance.id) or (None, None))[1]
    labels = hooks.describe(s, [instance.business_key]) if hooks is not None else {}
    cancelled = next((e for e, _ in reversed(events) if e.kind == "InstanceCancelled"), None)
    return InstanceDetail(
        instance=instance, definition=definition, starter=starter, subject=labels.get(instance.business_key),
        open_tasks=[t for t in tasks if t.state == TaskState.READY], history=events,
        active=[] if instance.status != InstanceState.RUNNING else active, done=done,
        variables=variables(workflow) if sees_every_instance(user) else None,
        incidents=incidents_for(s, instance.id),
        can_cancel=may_cancel(user) and instance.status == InstanceState.RUNNING,
        cancel_reason=(cancelled.data or {}).get("reason") if cancelled is not None else None, tasks=tasks)

