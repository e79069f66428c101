"""Drill and safety-education verbs, and the completion checks the emergency_drill diagram names.

A drill is planned, held and recorded, and evaluated in bpmn/emergency_drill.bpmn; its user tasks name the checks
`record_drill` and `evaluate_drill`, which keep the record here in the completing transaction (a refusal leaves the
task open). Photos of a drill go through the same checks as hazard evidence (type sniffed from the bytes, size
capped, stored by hash). Safety-education sessions are recorded directly: they need no approval.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.drills.models import DrillPhoto, DrillRecord, SafetyEducation
from engine.drills.queries import PLAN_TASK
from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.org.scope import can_view_org
from engine.process.contracts import Contract
from engine.process.events import record_event
from engine.process.hooks import Completion, Hooks
from engine.rectification.attachments import EvidenceStore, check_upload, clean_filename, store_for

DRILL_PROCESS = "emergency_drill"
# What this package reads in the drill diagram: the two checks that keep its records, the loop's data, and the plan
# task every targeted unit gets first (semester_drills counts who owed drills by it).
DRILL_RECORDS = Contract(subject="drills (engine/drills)", user_tasks=(PLAN_TASK, "record_drill", "evaluate_drill"),
                         data_keys=("drills_held",),
                         properties={"record_drill": {"completionCheck": "record_drill"},
                                     "evaluate_drill": {"completionCheck": "evaluate_drill"}})
UNIT_ROLES = {"department_staff", "department_head"}
SCHOOL_ROLES = {"security_office", "admin"}
MAX_HOURS = 100.0


def _target_of(completion: Completion) -> tuple[int, int]:
    """(unit id, the drill's number) of the subprocess instance the task belongs to."""
    data = completion.spiff_task.data
    target = data.get("target") or {}
    try:
        return int(target["org_id"]), int(data.get("drills_held") or 0) + 1
    except (KeyError, TypeError, ValueError):
        raise InvalidFormData("the drill task has no unit (target.org_id)",
                              [{"field": "target", "message": "missing"}]) from None


def _day(value, name: str, errors: list[dict], today: date) -> date | None:
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        errors.append({"field": name, "message": "a date (YYYY-MM-DD)"})
        return None
    if day > today:
        errors.append({"field": name, "message": "不能晚于今天"})
    return day


def record_drill(completion: Completion) -> None:
    """completionCheck `record_drill`: keep what the unit held (refused for a date in the future)."""
    s, data = completion.session, completion.data
    unit_id, sequence = _target_of(completion)
    errors: list[dict] = []
    held_on = _day(data.get("held_on"), "held_on", errors, completion.now.astimezone(CHINA).date())
    if errors:
        raise InvalidFormData("invalid drill record", errors)
    task_data = completion.spiff_task.data
    unit = s.get(OrgNode, unit_id)
    record = s.scalars(select(DrillRecord).where(DrillRecord.instance_id == completion.task.instance_id,
                                                 DrillRecord.unit_id == unit_id,
                                                 DrillRecord.sequence == sequence)).first()
    if record is None:
        record = DrillRecord(unit_id=unit_id, instance_id=completion.task.instance_id, sequence=sequence)
        s.add(record)
    planned = task_data.get("planned_on")
    record.school_id = task_data.get("school_id")
    record.semester_key = task_data.get("period_key")
    record.task_id = completion.task.id
    record.planned_on = date.fromisoformat(planned) if isinstance(planned, str) and planned else None
    record.held_on, record.scenario = held_on, data["scenario"].strip()
    record.participants, record.summary = int(data["participants"]), data["summary"].strip()
    record.headcount = unit.headcount if unit is not None else None
    record.recorded_by_id, record.recorded_at = completion.user.id, completion.now
    s.flush()
    record_event(s, completion.now, "DrillRecorded", completion.user.id, instance_id=completion.task.instance_id,
                 task_id=completion.task.id, drill_id=record.id, unit_id=unit_id, sequence=sequence,
                 held_on=held_on.isoformat(), participants=record.participants, headcount=record.headcount)


def evaluate_drill(completion: Completion) -> None:
    """completionCheck `evaluate_drill`: the security office's evaluation goes onto the unit's drill record."""
    s, data = completion.session, completion.data
    unit_id, sequence = _target_of(completion)
    record = s.scalars(select(DrillRecord).where(DrillRecord.instance_id == completion.task.instance_id,
                                                 DrillRecord.unit_id == unit_id,
                                                 DrillRecord.sequence == sequence)).first()
    if record is None:
        raise InvalidFormData("the drill was not recorded", [{"field": "evaluation", "message": "no drill record"}])
    record.evaluation = data["evaluation"]
    record.evaluation_notes = (data.get("evaluation_notes") or "").strip() or None
    record.evaluated_by_id, record.evaluated_at = completion.user.id, completion.now
    record_event(s, completion.now, "DrillEvaluated", completion.user.id, instance_id=completion.task.instance_id,
                 task_id=completion.task.id, drill_id=record.id, unit_id=unit_id, evaluation=record.evaluation)


def can_record_for(s: Session, user: User, unit: OrgNode) -> bool:
    """The unit's own staff and head, or the security office (or an administrator) of its school or above."""
    ancestors = set(unit.ancestor_ids())
    return any((g.role in UNIT_ROLES and g.org_id == unit.id) or (g.role in SCHOOL_ROLES and g.org_id in ancestors)
               for g in user.grants)


def _writable_unit(s: Session, user: User, unit_id) -> OrgNode:
    unit = s.get(OrgNode, int(unit_id)) if str(unit_id).isdigit() else None
    if unit is None or unit.kind not in ("unit", "grid") or not can_view_org(s, user, unit.id):
        raise NotFound(f"unit {unit_id} does not exist")
    if not can_record_for(s, user, unit):
        raise NotAllowed("only the unit's own staff or the security office may record its drills and education")
    return unit


def visible_drill(s: Session, user: User, drill_id: int) -> DrillRecord:
    """A drill record of a unit in the user's scope (NotFound otherwise)."""
    record = s.get(DrillRecord, drill_id)
    if record is None or not can_view_org(s, user, record.unit_id):
        raise NotFound(f"drill {drill_id} does not exist")
    return record


def _education_values(data: dict, today: date) -> dict:
    errors: list[dict] = []
    held_on = _day(data.get("held_on") or "", "held_on", errors, today)
    topic = str(data.get("topic") or "").strip()
    if not topic or len(topic) > 200:
        errors.append({"field": "topic", "message": "required, at most 200 characters"})
    try:
        hours = float(data.get("class_hours"))
        if not 0 < hours <= MAX_HOURS:
            raise ValueError
    except (TypeError, ValueError):
        errors.append({"field": "class_hours", "message": f"a number of class-hours above 0 and at most {MAX_HOURS:g}"})
        hours = 0.0
    try:
        participants = int(data.get("participants"))
        if not 1 <= participants <= 1_000_000:
            raise ValueError
    except (TypeError, ValueError):
        errors.append({"field": "participants", "message": "a whole number of at least 1"})
        participants = 0
    notes = str(data.get("notes") or "").strip()
    if len(notes) > 2000:
        errors.append({"field": "notes", "message": "at most 2000 characters"})
    if errors:
        raise InvalidFormData("invalid safety-education record: " + ", ".join(e["field"] for e in errors), errors)
    return {"held_on": held_on, "topic": topic, "class_hours": round(hours, 1), "participants": participants,
            "notes": notes or None}


class Drills:
    """Drill and safety-education verbs over the engine's Services (same unit of work and clock)."""

    def __init__(self, services):
        self.services = services

    def record_education(self, user_id: int, unit_id: int, data: dict) -> SafetyEducation:
        """Record one safety-education session of a unit (its staff, head or the security office)."""
        svc = self.services
        with svc.uow() as uow:
            s, now = uow.session, svc.clock.now()
            user = accounts.get_user(s, user_id)
            unit = _writable_unit(s, user, unit_id)
            row = SafetyEducation(unit_id=unit.id, recorded_by_id=user.id, recorded_at=now,
                                  **_education_values(data, now.astimezone(CHINA).date()))
            s.add(row)
            s.flush()
            record_event(s, now, "SafetyEducationRecorded", user.id, education_id=row.id, unit_id=unit.id,
                         held_on=row.held_on.isoformat(), class_hours=row.class_hours, participants=row.participants)
            uow.commit()
            return row

    def add_photo(self, user_id: int, drill_id: int, *, filename: str, data: bytes,
                  store: EvidenceStore | None = None) -> DrillPhoto:
        """Check and store one photo of a drill (the hazard evidence checks: type from the bytes, size cap)."""
        store = store or store_for(self.services)
        sniffed, digest = check_upload(data, store)
        svc = self.services
        with svc.uow() as uow:
            s, now = uow.session, svc.clock.now()
            user = accounts.get_user(s, user_id)
            record = visible_drill(s, user, drill_id)
            _writable_unit(s, user, record.unit_id)
            photo = DrillPhoto(drill_id=record.id, uploaded_by_id=user.id, filename=clean_filename(filename),
                               content_type=sniffed, size=len(data), sha256=digest,
                               storage_key=store.put(data, digest), created_at=now)
            s.add(photo)
            s.flush()
            record_event(s, now, "DrillPhotoAdded", user.id, instance_id=record.instance_id, drill_id=record.id,
                         photo_id=photo.id, filename=photo.filename, content_type=sniffed, size=len(data),
                         sha256=digest)
            uow.commit()
            return photo

    def photo(self, user_id: int, photo_id: int, store: EvidenceStore | None = None) -> tuple[DrillPhoto, bytes]:
        """(metadata, bytes) of a drill photo, for a user whose scope covers the unit; NotFound otherwise."""
        store = store or store_for(self.services)
        with self.services.uow() as uow:
            s = uow.session
            user = accounts.get_user(s, user_id)
            photo = s.get(DrillPhoto, photo_id)
            if photo is None:
                raise NotFound(f"photo {photo_id} does not exist")
            visible_drill(s, user, photo.drill_id)
            return photo, store.read(photo.storage_key)


def register(hooks: Hooks) -> None:
    """Plug drills into the process core: the drill diagram's two record-keeping checks."""
    hooks.add_completion_check("record_drill", record_drill)
    hooks.add_completion_check("evaluate_drill", evaluate_drill)
    hooks.protect(DRILL_PROCESS, DRILL_RECORDS)
