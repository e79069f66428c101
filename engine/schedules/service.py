"""Recurring inspections (seed 004: 学校每季度、二级单位每月、重点部位每天; the weekly fire 检查日).

A schedule belongs to a school. Each period of its cadence starts one occurrence: a patrol (bpmn/patrol.bpmn, one
task per target unit or the security office, due when the occurrence's window closes) or a campaign
(Campaigns.create_campaign over the schedule's checklist and units, stages spread over the window). An unfinished
patrol is an overdue task and climbs the ordinary escalation ladder (engine/escalation.py); nothing here re-implements
that.

The sweep (`run_due_schedules`) reads only schedules whose indexed `next_run_at` is due and handles each in its own
transaction, holding the schedule's row lock (SKIP LOCKED on PostgreSQL; SQLite serialises writers) and re-checking
`next_run_at` after locking; occurrences are unique per (schedule, period). So two sweeps at once, or one run twice,
start every occurrence once. After downtime it starts only the latest period and records the periods before it as
`missed` (an event each, one notice to the security office), never a burst of stale occurrences.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns.models import ChecklistTemplate
from engine.campaigns.service import Campaigns
from engine.infra.db import is_postgres
from engine.infra.errors import (
    InvalidFormData,
    NotAllowed,
    NotFound,
    RectiflowError,
    ScriptNotAllowed,
    WorkflowFailed,
)
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.org.scope import can_view_org
from engine.process.calendar import CalendarBook
from engine.process.contracts import Contract
from engine.process.events import record_event
from engine.process.hooks import Hooks
from engine.process.models import ProcessDefinition
from engine.process.outbox import enqueue
from engine.schedules.cadence import Period, Recurrence, parse_window
from engine.schedules.models import InspectionOccurrence, InspectionSchedule
from engine.schedules.queries import get_visible_schedule
from engine.schedules.rules import normalise

log = logging.getLogger("rectiflow.schedules")

PATROL_PROCESS = "patrol"
DRILL_PROCESS = "emergency_drill"
# The process each kind of schedule starts per occurrence (a campaign kind starts a 专项整治 instead).
KIND_PROCESS = {"patrol": PATROL_PROCESS, "drill": DRILL_PROCESS}
# Schedules send a patrol to a role by the diagram's lanes (patrol_roles): the default role and the school-level
# security office must keep a lane; the start data (targets, due_at, patrol_role) is the schedule's own.
PATROL_CONTRACT = Contract(subject="schedules (engine/schedules)", lanes=("department_staff", "security_office"),
                           started_through="a patrol schedule starts it (/schedules or POST /api/v1/schedules)")
# A drill schedule gives the diagram one target per unit and due_at, the end of the semester's window.
DRILL_CONTRACT = Contract(subject="schedules (engine/schedules)",
                          started_through="a semester drill schedule starts it (/schedules or POST /api/v1/schedules)")
MANAGER_ROLES = {"security_office", "admin"}
CAMPAIGN_STAGES = (("self_check", 0.4), ("joint_inspection", 0.6), ("rectification", 0.8), ("supervision", 1.0))
MIN_CAMPAIGN_DAYS = len(CAMPAIGN_STAGES)
MAX_SITES = 50


class _Taken(Exception):
    """Another sweep holds or already advanced the schedule: roll this attempt back."""


@dataclass
class ScheduleSweep:
    """What one sweep did."""

    started: int = 0
    missed: int = 0
    failed: int = 0
    skipped: int = 0
    actions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """What a due schedule does now: periods to record as missed, the one to start, and the next run."""

    missed: tuple[Period, ...]
    start: Period
    due_at: datetime
    next_run_at: datetime
    expected_next_run_at: datetime  # the value the plan was made from; a change means another sweep ran


def _lock(s: Session, schedule_id: int) -> InspectionSchedule | None:
    stmt = (select(InspectionSchedule).where(InspectionSchedule.id == schedule_id)
            .execution_options(populate_existing=True))
    if is_postgres(s):
        stmt = stmt.with_for_update(skip_locked=True)
    return s.scalars(stmt).first()


def recurrence_for(s: Session, schedule: InspectionSchedule) -> Recurrence:
    """The schedule's periods under its school's working-day calendar."""
    calendar = CalendarBook(s).for_org(schedule.org_id)
    return Recurrence(schedule.cadence, calendar, schedule.weekday, schedule.day, schedule.semester_starts)


def first_run(s: Session, schedule: InspectionSchedule, on: date) -> datetime:
    """The start of the first period not yet started, from the period containing `on` (creation, resume)."""
    recurrence = recurrence_for(s, schedule)
    period = recurrence.containing(on)
    if schedule.id is not None:
        started = set(s.scalars(select(InspectionOccurrence.period_key).where(
            InspectionOccurrence.schedule_id == schedule.id, InspectionOccurrence.period_key >= period.key)))
        while period.key in started:
            period = recurrence.after(period)
    return period.start


def plan_for(s: Session, schedule: InspectionSchedule, now: datetime) -> Plan | None:
    """The plan of a schedule that is due at `now`, or None when it is not (paused, or not yet)."""
    if schedule.next_run_at is None or schedule.next_run_at > now:
        return None
    recurrence = recurrence_for(s, schedule)
    due = recurrence.due(recurrence.containing(schedule.next_run_at), now)
    if not due:  # a holiday added since moved the period's start later: wait for it
        return None
    latest = due[-1]
    window_end = latest.start + parse_window(schedule.window, latest.start.astimezone(CHINA))
    # Started late (after downtime) with its window already closed: the occurrence gets a full window from now.
    due_at = window_end if window_end > now else now + parse_window(schedule.window, now.astimezone(CHINA))
    return Plan(tuple(due[:-1]), latest, due_at, recurrence.after(latest).start, schedule.next_run_at)


def _units_of(s: Session, school: OrgNode) -> list[OrgNode]:
    return list(s.scalars(select(OrgNode).where(OrgNode.kind == "unit", OrgNode.path.startswith(school.path))
                          .order_by(OrgNode.path)))


def patrol_targets(s: Session, schedule: InspectionSchedule) -> list[dict]:
    """One entry per task: the org whose role holders patrol, its sites, and the inbox title."""
    school = s.get(OrgNode, schedule.org_id)
    target = schedule.target or {}
    entries = ([{"org_id": u.id, "sites": []} for u in _units_of(s, school)] if target.get("all_units")
               else list(target.get("units") or []))
    targets = []
    for entry in entries:
        org = s.get(OrgNode, int(entry["org_id"]))
        if org is None or not org.path.startswith(school.path):
            continue
        sites = [str(x) for x in entry.get("sites") or []]
        label = f"{schedule.title}：{'、'.join(sites) if sites else org.name}"[:200]
        targets.append({"org_id": org.id, "org_name": org.name, "sites": sites, "label": label})
    return targets


def campaign_stages(start_day: date, days: int) -> dict:
    """Stage windows spread over an occurrence's days: self-check 40 %, then joint inspection, rectification,
    supervision 20 % each, one after another."""
    stages, previous_end = {}, start_day - timedelta(days=1)
    for key, share in CAMPAIGN_STAGES:
        end = max(start_day + timedelta(days=max(int(days * share), 1) - 1), previous_end + timedelta(days=1))
        stages[key] = {"start": (previous_end + timedelta(days=1)).isoformat(), "end": end.isoformat()}
        previous_end = end
    return stages


class Schedules:
    """Recurring-inspection verbs; built on the engine's Services (same unit of work, clock and runtime)."""

    def __init__(self, services):
        self.services = services

    # -- managing schedules --------------------------------------------------------------------
    def create_schedule(self, user_id: int, data: dict, source: str | None = None) -> InspectionSchedule:
        """Add a schedule for a school the user manages (security office); its first run is the current period."""

        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            school = self._school_for(s, user, data.get("school_id"))
            values, starts_on = normalise(s, school, data, patrol_roles(s), now)
            schedule = InspectionSchedule(org_id=school.id, active=True, source=source, created_at=now,
                                          created_by_id=user.id, **values)
            s.add(schedule)
            s.flush()
            schedule.next_run_at = first_run(s, schedule, starts_on)
            record_event(s, now, "ScheduleCreated", user.id, schedule_id=schedule.id, title=schedule.title,
                         cadence=schedule.cadence, schedule_kind=schedule.kind, school_id=school.id)
            uow.commit()
            return schedule

    def set_active(self, user_id: int, schedule_id: int, active: bool) -> InspectionSchedule:
        """Pause (no occurrences, none recorded missed) or resume (from the current period) a schedule."""
        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            schedule = get_visible_schedule(s, user, schedule_id)
            if not can_manage(user, s.get(OrgNode, schedule.org_id)):
                raise NotAllowed("only the security office may pause or resume inspection schedules")
            if schedule.active != active:
                schedule.active = active
                schedule.next_run_at = first_run(s, schedule, now.astimezone(CHINA).date()) if active else None
                record_event(s, now, "ScheduleResumed" if active else "SchedulePaused", user.id,
                             schedule_id=schedule.id, title=schedule.title)
            uow.commit()
            return schedule

    @staticmethod
    def _school_for(s: Session, user, school_id: int | None) -> OrgNode:
        if school_id is None:
            school = accounts.nearest(s, user.org, "school")
            if school is None:
                raise InvalidFormData("choose the school", [{"field": "school_id", "message": "required"}])
        else:
            school = s.get(OrgNode, int(school_id))
            if school is None or school.kind != "school" or not can_view_school(s, user, school.id):
                raise NotFound(f"school {school_id} does not exist")
        if not can_manage(user, school):
            raise NotAllowed("only the security office may set up inspection schedules")
        return school

    # -- the sweep -----------------------------------------------------------------------------
    def run_due(self, limit: int = 500) -> ScheduleSweep:
        """Start every due occurrence (each schedule in its own transaction); reads only due schedules."""
        now = self.services.clock.now()
        result = ScheduleSweep()
        with self.services.uow() as uow:
            ids = list(uow.session.scalars(
                select(InspectionSchedule.id).where(InspectionSchedule.next_run_at <= now)
                .order_by(InspectionSchedule.next_run_at, InspectionSchedule.id).limit(limit)))
        for schedule_id in ids:
            try:
                self._run_one(schedule_id, now, result)
            except Exception:  # noqa: BLE001 - one broken schedule must not stop the others; retried next sweep
                log.exception("schedule %s: occurrence could not be started", schedule_id)
                result.skipped += 1
                result.actions.append(f"schedule {schedule_id}: error (will retry)")
        return result

    def _run_one(self, schedule_id: int, now: datetime, result: ScheduleSweep) -> None:
        with self.services.uow() as uow:
            schedule = uow.session.get(InspectionSchedule, schedule_id)
            plan = plan_for(uow.session, schedule, now) if schedule is not None else None
            kind = schedule.kind if schedule is not None else None
        if plan is None:
            result.skipped += 1
            return
        try:
            if kind == "campaign":
                self._start_campaign(schedule_id, plan, now)
            else:
                self._start_process(schedule_id, plan, now, KIND_PROCESS[kind])
        except _Taken:
            result.skipped += 1
            return
        except RectiflowError as exc:
            if not self._record_failure(schedule_id, plan, now, exc.message):
                result.skipped += 1
                return
            result.failed += 1
            result.missed += len(plan.missed)
            result.actions.append(f"schedule {schedule_id}: {plan.start.key} failed: {exc.message}")
            return
        result.started += 1
        result.missed += len(plan.missed)
        result.actions.append(f"schedule {schedule_id}: started {plan.start.key}"
                              + (f", {len(plan.missed)} missed" if plan.missed else ""))

    def _claim(self, s: Session, schedule_id: int, plan: Plan, now: datetime) -> InspectionSchedule:
        """Lock the schedule, check no other sweep got here first, record the missed periods, advance it."""
        schedule = _lock(s, schedule_id)
        if schedule is None or schedule.next_run_at != plan.expected_next_run_at:
            raise _Taken()
        existing = set(s.scalars(select(InspectionOccurrence.period_key).where(
            InspectionOccurrence.schedule_id == schedule_id,
            InspectionOccurrence.period_key.in_([p.key for p in (*plan.missed, plan.start)]))))
        if plan.start.key in existing:
            raise _Taken()
        missed = [p for p in plan.missed if p.key not in existing]
        for period in missed:
            s.add(InspectionOccurrence(schedule_id=schedule_id, period_key=period.key, period_start=period.start,
                                       status="missed", note="未按期启动（系统停止运行期间）"))
            record_event(s, now, "InspectionMissed", None, schedule_id=schedule_id, period_key=period.key,
                         title=schedule.title)
        if missed:
            enqueue(s, now, "inspection_missed", {"subject_kind": "schedule", "subject_id": schedule_id,
                                                  "name": f"{schedule.title}：{len(missed)}期漏检",
                                                  "periods": [p.key for p in missed]},
                    role="security_office", org_id=schedule.org_id)
        schedule.next_run_at = plan.next_run_at
        return schedule

    def _occurrence(self, s: Session, schedule: InspectionSchedule, plan: Plan, now: datetime,
                    **links) -> InspectionOccurrence:
        occurrence = InspectionOccurrence(schedule_id=schedule.id, period_key=plan.start.key,
                                          period_start=plan.start.start, started_at=now, due_at=plan.due_at,
                                          status="open", **links)
        s.add(occurrence)
        s.flush()
        return occurrence

    def _start_process(self, schedule_id: int, plan: Plan, now: datetime, key: str) -> None:
        """Start the occurrence's patrol or drill process with one target per unit (or the security office)."""
        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            schedule = self._claim(s, schedule_id, plan, now)
            targets = patrol_targets(s, schedule)
            if not targets:
                raise InvalidFormData("the schedule names no unit to patrol", [{"field": "target", "message": "empty"}])
            definition = svc.latest_definition(s, key)
            school = s.get(OrgNode, schedule.org_id)
            occurrence = self._occurrence(s, schedule, plan, now)
            data = {"schedule_id": schedule.id, "occurrence_id": occurrence.id, "period_key": plan.start.key,
                    "title": schedule.title, "school_id": school.id, "bureau_id": school.parent_id,
                    "patrol_role": (schedule.target or {}).get("role") or "department_staff", "targets": targets,
                    "due_at": plan.due_at.astimezone(CHINA).isoformat()}
            try:
                workflow = svc.runtime.start(definition, data)
            except (SpiffWorkflowException, ScriptNotAllowed) as exc:
                raise WorkflowFailed(f"the {key} process could not start: {exc}") from None
            projector = svc.projector(s, now, None)
            instance = projector.new_instance(definition, f"inspection:{schedule.id}:{plan.start.key}")
            occurrence.instance_id = instance.id
            record_event(s, now, "InspectionStarted", None, instance_id=instance.id, schedule_id=schedule.id,
                         occurrence_id=occurrence.id, period_key=plan.start.key, title=schedule.title,
                         targets=len(targets), due_at=plan.due_at.isoformat())
            projector.persist(instance, workflow, None)
            uow.commit()

    def _start_campaign(self, schedule_id: int, plan: Plan, now: datetime) -> None:
        with self.services.uow() as uow:
            s = uow.session
            schedule = s.get(InspectionSchedule, schedule_id)
            school = s.get(OrgNode, schedule.org_id)
            target = schedule.target or {}
            unit_ids = ([u.id for u in _units_of(s, school)] if target.get("all_units")
                        else [int(u["org_id"]) for u in target.get("units") or []])
            title, template_id, creator = schedule.title, schedule.template_id, schedule.created_by_id
        start_day = now.astimezone(CHINA).date()
        days = max((plan.due_at.astimezone(CHINA).date() - start_day).days, MIN_CAMPAIGN_DAYS)

        def record(s2: Session, campaign) -> None:
            schedule2 = self._claim(s2, schedule_id, plan, now)
            occurrence = self._occurrence(s2, schedule2, plan, now, campaign_id=campaign.id)
            record_event(s2, now, "InspectionStarted", None, instance_id=campaign.instance_id,
                         schedule_id=schedule_id, occurrence_id=occurrence.id, period_key=plan.start.key,
                         title=title, campaign_id=campaign.id, due_at=plan.due_at.isoformat())

        # The campaign, its process, the occurrence and the schedule's advance commit together (one transaction).
        Campaigns(self.services).create_campaign(
            creator, f"{title}（{plan.start.key}）", template_id, unit_ids, campaign_stages(start_day, days),
            org_id=school.id, within=record)

    def _record_failure(self, schedule_id: int, plan: Plan, now: datetime, message: str) -> bool:
        """A start refused by the engine (no units, template gone, creator lost the role): record, then move on."""
        with self.services.uow() as uow:
            s = uow.session
            try:
                schedule = self._claim(s, schedule_id, plan, now)
            except _Taken:
                return False
            s.add(InspectionOccurrence(schedule_id=schedule_id, period_key=plan.start.key,
                                       period_start=plan.start.start, started_at=now, status="failed",
                                       note=message[:2000]))
            record_event(s, now, "InspectionFailed", None, schedule_id=schedule_id, period_key=plan.start.key,
                         title=schedule.title, error=message[:500])
            enqueue(s, now, "inspection_failed", {"subject_kind": "schedule", "subject_id": schedule_id,
                                                  "name": f"{schedule.title}：{plan.start.key}未能启动",
                                                  "reason": message[:500]},
                    role="security_office", org_id=schedule.org_id)
            uow.commit()
            return True


def run_due_schedules(services, limit: int = 500) -> ScheduleSweep:
    """One sweep of the recurring inspections (the scheduler runs it every minute)."""
    return Schedules(services).run_due(limit)


# -- who may see and manage ------------------------------------------------------------------------
def can_view_school(s: Session, user, school_id: int) -> bool:
    """A school's schedules are visible to whoever's scope covers the school (its offices, leaders, the bureau)."""

    return can_view_org(s, user, school_id)


def can_manage(user, school: OrgNode | None) -> bool:
    """The security office (or an administrator) of the school, or of a level above it."""
    return school is not None and any(g.role in MANAGER_ROLES and g.org_id in school.ancestor_ids()
                                      for g in user.grants)


def patrol_roles(s: Session) -> set[str]:
    """The roles a patrol can go to: the lanes of the deployed patrol diagram's user tasks."""
    definition = s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == PATROL_PROCESS)
                           .order_by(ProcessDefinition.version.desc())).first()
    if definition is None:
        return set()
    return {m.get("lane") for m in (definition.task_meta or {}).values()} - {None}


def template_by_name(s: Session, name: str) -> ChecklistTemplate | None:
    """A checklist template by its unique name."""
    return s.scalars(select(ChecklistTemplate).where(ChecklistTemplate.name == name)).first()


def register(hooks: Hooks) -> None:
    """Plug recurring inspections into the process core: the patrol and drill diagrams' contracts."""
    hooks.protect(PATROL_PROCESS, PATROL_CONTRACT)
    hooks.protect(DRILL_PROCESS, DRILL_CONTRACT)
