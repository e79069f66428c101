"""Read side of recurring inspections: the schedules a user may see, and their occurrences with live states.

An occurrence's stored status is open, missed or failed; "done" and "overdue" are read from what it started
(the patrol instance completed, the campaign closed; or its window passed with work still open).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.campaigns.models import Campaign
from engine.infra.errors import NotFound
from engine.org.models import OrgNode, User
from engine.org.scope import scope_of
from engine.process.lifecycle import InstanceState, TaskState
from engine.process.models import HumanTask, ProcessInstance
from engine.schedules.models import InspectionOccurrence, InspectionSchedule

STATES = ("open", "done", "overdue", "missed", "failed")


@dataclass(frozen=True)
class OccurrenceView:
    """One occurrence as pages and the API show it."""

    id: int
    schedule_id: int
    period_key: str
    period_start: datetime
    started_at: datetime | None
    due_at: datetime | None
    state: str
    note: str | None
    instance_id: int | None
    campaign_id: int | None
    tasks_total: int
    tasks_done: int


def state_of(status: str, finished: bool, due_at: datetime | None, now: datetime) -> str:
    """The live state of an occurrence from its stored status and whether its work is finished."""
    if status != "open":
        return status
    if finished:
        return "done"
    return "overdue" if due_at is not None and due_at < now else "open"


def views(s: Session, rows: list[InspectionOccurrence], now: datetime) -> list[OccurrenceView]:
    """Occurrences with their states and task counts: three queries whatever the number of rows."""
    instance_ids = [r.instance_id for r in rows if r.instance_id]
    campaign_ids = [r.campaign_id for r in rows if r.campaign_id]
    finished_instances = set(s.scalars(select(ProcessInstance.id).where(
        ProcessInstance.id.in_(instance_ids), ProcessInstance.status == InstanceState.COMPLETED))) if instance_ids else set()
    closed_campaigns = set(s.scalars(select(Campaign.id).where(
        Campaign.id.in_(campaign_ids), Campaign.status == "closed"))) if campaign_ids else set()
    counts: dict[int, dict[str, int]] = {}
    if instance_ids:
        for instance_id, state, n in s.execute(
                select(HumanTask.instance_id, HumanTask.state, func.count())
                .where(HumanTask.instance_id.in_(instance_ids)).group_by(HumanTask.instance_id, HumanTask.state)):
            counts.setdefault(instance_id, {})[state] = n
    result = []
    for r in rows:
        finished = r.instance_id in finished_instances or r.campaign_id in closed_campaigns
        by_state = counts.get(r.instance_id, {})
        result.append(OccurrenceView(
            r.id, r.schedule_id, r.period_key, r.period_start, r.started_at, r.due_at,
            state_of(r.status, finished, r.due_at, now), r.note, r.instance_id, r.campaign_id,
            by_state.get(TaskState.COMPLETED, 0) + by_state.get(TaskState.READY, 0), by_state.get(TaskState.COMPLETED, 0)))
    return result


def _visible_clause(s: Session, user: User):
    scope = scope_of(s, user)
    if not scope.paths:
        return None
    return InspectionSchedule.org_id.in_(
        select(OrgNode.id).where(or_(*[OrgNode.path.startswith(p) for p in scope.paths])))


def visible_schedules(s: Session, user: User, school_id: int | None = None) -> list[InspectionSchedule]:
    """The schedules of the schools in the user's scope (their security office, leaders, the bureau above)."""
    clause = _visible_clause(s, user)
    if clause is None:
        return []
    stmt = select(InspectionSchedule).where(clause)
    if school_id is not None:
        stmt = stmt.where(InspectionSchedule.org_id == school_id)
    return list(s.scalars(stmt.order_by(InspectionSchedule.org_id, InspectionSchedule.id)))


def get_visible_schedule(s: Session, user: User, schedule_id: int) -> InspectionSchedule:
    """The schedule if the user may see it; NotFound otherwise (another school's ids reveal nothing)."""
    schedule = s.get(InspectionSchedule, schedule_id)
    path = s.scalar(select(OrgNode.path).where(OrgNode.id == schedule.org_id)) if schedule is not None else None
    if path is None or not scope_of(s, user).covers(path):
        raise NotFound(f"schedule {schedule_id} does not exist")
    return schedule


def occurrences(s: Session, schedule_id: int, now: datetime, page: int = 1,
                per_page: int = 30) -> tuple[list[OccurrenceView], int]:
    """One page of a schedule's occurrences, newest period first."""
    page, per_page = max(page, 1), max(1, min(per_page, 200))
    where = InspectionOccurrence.schedule_id == schedule_id
    total = s.scalar(select(func.count()).select_from(InspectionOccurrence).where(where)) or 0
    rows = list(s.scalars(select(InspectionOccurrence).where(where).order_by(InspectionOccurrence.period_key.desc())
                          .limit(per_page).offset((page - 1) * per_page)))
    return views(s, rows, now), total


def recent_occurrences(s: Session, schedule_ids: list[int], now: datetime,
                       per_schedule: int = 7) -> dict[int, list[OccurrenceView]]:
    """The latest occurrences of several schedules, in one query (a window function ranks them per schedule)."""
    if not schedule_ids:
        return {}
    rank = func.row_number().over(partition_by=InspectionOccurrence.schedule_id,
                                  order_by=InspectionOccurrence.period_key.desc()).label("rank")
    ranked = (select(InspectionOccurrence.id, rank)
              .where(InspectionOccurrence.schedule_id.in_(schedule_ids)).subquery())
    rows = list(s.scalars(select(InspectionOccurrence).join(ranked, ranked.c.id == InspectionOccurrence.id)
                          .where(ranked.c.rank <= per_schedule)
                          .order_by(InspectionOccurrence.schedule_id, InspectionOccurrence.period_key.desc())))
    grouped: dict[int, list[OccurrenceView]] = {sid: [] for sid in schedule_ids}
    for view in views(s, rows, now):
        grouped[view.schedule_id].append(view)
    return grouped
