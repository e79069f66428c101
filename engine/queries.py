"""Read side: inboxes, a hazard's timeline, definitions. Paginated, indexed, no query per row."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, false, func, or_, select, tuple_
from sqlalchemy.orm import Session, joinedload

from .models import Event, Hazard, HumanTask, ProcessDefinition, User

INBOX_VIEWS = ("mine", "groups", "overdue")
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int


def _candidate_clause(user: User):
    pairs = [(g.role, g.org_id) for g in user.grants]
    if not pairs:
        return false()
    return and_(HumanTask.assignee_id.is_(None), tuple_(HumanTask.candidate_role, HumanTask.candidate_org_id).in_(pairs))


def inbox_clause(user: User, view: str, now: datetime):
    """The WHERE clause of one inbox view for one user."""
    if view == "mine":
        return and_(HumanTask.state == "ready", HumanTask.assignee_id == user.id)
    if view == "groups":
        return and_(HumanTask.state == "ready", _candidate_clause(user))
    if view == "overdue":
        return and_(HumanTask.state == "ready", HumanTask.due_at < now,
                    or_(HumanTask.assignee_id == user.id, _candidate_clause(user)))
    raise ValueError(f"unknown inbox view {view!r}; expected one of {INBOX_VIEWS}")


def inbox(s: Session, user: User, view: str, now: datetime, page: int = 1, per_page: int = 50,
          filters: dict | None = None) -> Page:
    """One page of an inbox view, most urgent first, with each task's hazard loaded in the same query."""
    per_page = max(1, min(per_page, MAX_PAGE_SIZE))
    page = max(1, page)
    where = [inbox_clause(user, view, now)]
    for column, value in (filters or {}).items():
        if value not in (None, ""):
            where.append(getattr(Hazard, column) == value)
    base = select(HumanTask).outerjoin(Hazard, HumanTask.hazard_id == Hazard.id).where(*where)
    total = s.scalar(select(func.count()).select_from(base.subquery()))
    rows = s.scalars(
        base.options(joinedload(HumanTask.hazard))
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.priority.desc(), HumanTask.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


def inbox_counts(s: Session, user: User, now: datetime) -> dict[str, int]:
    """How many tasks each inbox view holds."""
    return {view: s.scalar(select(func.count()).select_from(HumanTask).where(inbox_clause(user, view, now)))
            for view in INBOX_VIEWS}


def hazard_timeline(s: Session, hazard_id: int) -> list[tuple[Event, str | None]]:
    """Every event of a hazard in order, with the actor's display name."""
    stmt = (select(Event, User.display_name).outerjoin(User, Event.actor_id == User.id)
            .where(Event.hazard_id == hazard_id).order_by(Event.occurred_at, Event.id))
    return [(event, name) for event, name in s.execute(stmt)]


def definitions(s: Session) -> list[ProcessDefinition]:
    """Every deployed definition version, newest first per process."""
    return list(s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())))
