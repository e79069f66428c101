"""Hazards as a subject of the process core: reporting one, keeping its ledger row in step with its process.

A hazard's instance carries the business key `hazard:<id>`; `HazardSubject` is registered for that kind, so
the core loads the hazard for any advance (a completion, a timer, a message) and stamps its id on the task
rows, and `sync_hazard` (an advance listener) copies the process data onto the ledger columns.
"""
from __future__ import annotations

from datetime import date, datetime, time

from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.infra.db import is_postgres
from engine.infra.errors import (
    InvalidFormData,
    NotAllowed,
    NotFound,
    ScriptNotAllowed,
    WorkflowFailed,
)
from engine.infra.timezone import CHINA, as_date
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.process.contracts import Contract
from engine.process.events import record_event
from engine.process.forms import validate_form_data
from engine.process.hooks import Advance, Hooks
from engine.process.models import ProcessInstance
from engine.process.services import Services
from engine.rectification.attachments import HazardEvidence
from engine.rectification.models import Hazard

HAZARD_PROCESS = "hazard_rectification"
STAGE_ORDER = ("discover", "register", "report", "rectify", "accept", "close", "archive")
# Process data copied onto the hazard's ledger columns after each step.
_TEXT_FIELDS = (
    "location", "check_item", "problem", "measures", "completion", "responsible_person", "remarks", "category",
    "grade", "plan_owner", "plan_measures", "plan_contingency", "plan_funds", "temporary_measures",
)
_DATE_FIELDS = ("deadline", "plan_deadline", "checked_at")
# What report_hazard reads from the start form (data["..."]), and what sync_hazard needs the diagram's own forms
# and scripts to write: the ledger's columns, the responsible unit, and `closed` (the 销号).
_START_FIELDS = ("location", "problem", "category", "source")
_WRITTEN_BY_DIAGRAM = tuple(k for k in _TEXT_FIELDS + _DATE_FIELDS if k not in
                            ("location", "check_item", "problem", "remarks", "category", "checked_at")) + (
    "responsible_unit_id", "closed")
HAZARD_CONTRACT = Contract(
    subject="rectification (engine/rectification/hazards.py)",
    started_through="report a hazard on the page 隐患上报 (/hazards/new) or POST /api/v1/hazards",
    start_fields=_START_FIELDS,
    data_keys=_WRITTEN_BY_DIAGRAM,
    stages=tuple(s for s in STAGE_ORDER if s not in ("discover", "archive")),  # a hazard's status is its task's stage
)


class HazardSubject:
    """The `hazard:<id>` business key: a hazard's rectification runs (a look-back's reopening starts another)."""

    def load(self, session: Session, subject_id: int) -> Hazard | None:
        return session.get(Hazard, subject_id)

    def task_link(self, subject: Hazard) -> dict:
        return {"hazard_id": subject.id}

    def join(self, session: Session, subject: Hazard, instance: ProcessInstance) -> None:
        # A new run for the same hazard row: it follows the new instance; earlier instances stay as history.
        subject.instance_id = instance.id


def register(hooks: Hooks) -> None:
    """Plug hazards into the process core."""
    hooks.add_subject_kind("hazard", HazardSubject())
    hooks.add_evidence_keeper("hazard", HazardEvidence())
    hooks.on_advanced(sync_hazard)
    hooks.protect(HAZARD_PROCESS, HAZARD_CONTRACT)


def report_hazard(services: Services, user_id: int, data: dict, school_id: int | None = None,
                  process_key: str = HAZARD_PROCESS, campaign_id: int | None = None, within=None) -> Hazard:
    """Record a discovered hazard and start its rectification process (`within(session, hazard)` joins the commit)."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        user = accounts.get_user(s, user_id)
        definition = services.latest_definition(s, process_key)
        data = validate_form_data(definition.forms.get(definition.forms.get("__start__") or ""), data, now=now)
        checked_on = check_date(data.get("checked_at"), now)
        backdated = checked_on is not None and checked_on < now.astimezone(CHINA).date()
        school, unit = _reporting_scope(s, user, school_id)
        bureau_id = school.parent_id
        hazard = Hazard(
            school_id=school.id, unit_id=unit.id, unit_serial=0, location=data["location"],
            check_item=data.get("check_item"), problem=data["problem"], category=data["category"],
            source=data["source"], remarks=data.get("remarks"), status="discover", reported_by_id=user.id,
            reported_at=now, updated_at=now, campaign_id=campaign_id, checked_at=checked_on,
            found_at=datetime.combine(checked_on, time.min, CHINA) if backdated else None,
        )
        s.add(hazard)
        projector = services.projector(s, now, user.id)
        assign_unit(s, hazard, unit.id)
        s.flush()
        start_data = dict(data, hazard_id=hazard.id, school_id=school.id, bureau_id=bureau_id,
                          reporter_unit_id=unit.id, responsible_unit_id=unit.id, reporter_id=user.id)
        try:
            workflow = services.runtime.start(definition, start_data)
        except (SpiffWorkflowException, ScriptNotAllowed) as exc:
            raise WorkflowFailed(f"the process could not start: {exc}") from None
        instance = projector.new_instance(definition, f"hazard:{hazard.id}")
        hazard.instance_id = instance.id
        # A finding entered after the day it was found (a paper inspection typed in later) says so in the trail.
        record_event(s, now, "HazardReported", user.id, instance_id=instance.id, hazard_id=hazard.id,
                     **{k: v for k, v in data.items()}, **({"backdated": True} if backdated else {}))
        projector.persist(instance, workflow, hazard)
        if within is not None:
            within(s, hazard)
        uow.commit()
        return hazard


def check_date(value, now) -> date | None:
    """The 检查时间 of a report: any day up to today (China time), never a future one (InvalidFormData)."""
    try:
        day = as_date(value)
    except ValueError:
        raise InvalidFormData("checked_at: not a date", [{"field": "checked_at", "message": "not a date"}]) from None
    today = now.astimezone(CHINA).date()
    if day is not None and day > today:
        message = f"the check date {day.isoformat()} is in the future; give the day of the inspection (up to {today})"
        raise InvalidFormData(f"checked_at: {message}", [{"field": "checked_at", "message": message}])
    return day


def _reporting_scope(s: Session, user: User, school_id: int | None):
    home = user.org
    school = accounts.nearest(s, home, "school")
    if school_id is not None and (school is None or school.id != school_id):
        target = s.get(OrgNode, school_id)
        if target is None or target.kind != "school":
            raise NotFound(f"school {school_id} does not exist")
        scope_orgs = {g.org_id for g in user.grants}
        if not scope_orgs & set(target.ancestor_ids()):
            raise NotAllowed("you may report hazards only for schools within your organisation")
        return target, target
    if school is None:
        raise NotAllowed("choose the school where the hazard was found")
    unit = accounts.nearest(s, home, "unit") or school
    return school, unit


def sync_hazard(advance: Advance) -> None:
    """Copy the process data onto the hazard's ledger columns and work out its stage after each advance."""
    hazard, workflow, s, now = advance.subject, advance.workflow, advance.session, advance.now
    if not isinstance(hazard, Hazard):
        return
    instance, open_tasks, actor_id = advance.instance, advance.open_tasks, advance.projector.actor_id
    data = workflow.last_task.data if workflow.last_task is not None else {}
    for name in _TEXT_FIELDS:
        if data.get(name) not in (None, ""):
            setattr(hazard, name, data[name])
    for name in _DATE_FIELDS:
        if data.get(name):
            setattr(hazard, name, as_date(data[name]))
    unit_id = data.get("responsible_unit_id")
    if unit_id and int(unit_id) != hazard.unit_id:
        assign_unit(s, hazard, int(unit_id))
    if workflow.completed:
        status = "archive"
    elif data.get("closed"):
        status = "close"
    elif open_tasks:
        status = max((t.stage or "discover" for t in open_tasks), key=STAGE_ORDER.index)
    else:
        status = hazard.status
    if data.get("closed") and hazard.closed_at is None:
        hazard.closed_at = now
        record_event(s, now, "HazardClosed", actor_id, instance_id=instance.id,
                     hazard_id=hazard.id)
    if status == "archive" and hazard.status != "archive":
        record_event(s, now, "HazardArchived", actor_id, instance_id=instance.id,
                     hazard_id=hazard.id)
    hazard.status = status
    hazard.updated_at = now

def assign_unit(session: Session, hazard: Hazard, unit_id: int) -> None:
    """Make `unit_id` responsible, giving the hazard the unit's next ledger 序号."""
    stmt = select(OrgNode).where(OrgNode.id == unit_id)
    if is_postgres(session):
        # Serialises 序号 allocation per unit; NO KEY UPDATE, so rows that reference the unit (tasks, outbox
        # messages) are inserted meanwhile without waiting (the engine's lock order: engine.process.instances).
        stmt = stmt.with_for_update(key_share=True)
    unit = session.scalars(stmt).first()
    school = session.get(OrgNode, hazard.school_id)
    if unit is None or school is None or not unit.path.startswith(school.path):
        raise InvalidFormData(
            f"responsible unit {unit_id} is not part of this school",
            [{"field": "responsible_unit_id", "message": "not a unit of this school"}],
        )
    if not unit.active:
        raise InvalidFormData(f"responsible unit {unit.name} is deactivated",
                              [{"field": "responsible_unit_id", "message": "this unit is deactivated"}])
    last = session.scalar(select(func.max(Hazard.unit_serial)).where(Hazard.unit_id == unit_id))
    hazard.unit_id = unit_id
    hazard.unit_serial = (last or 0) + 1
