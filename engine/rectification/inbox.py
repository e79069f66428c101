"""The inbox as users see it: task pages with each task's hazard, and a hazard's timeline."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from engine.org.models import User
from engine.process.models import Event, HumanTask
from engine.process.tasklist import MAX_PAGE_SIZE, Page, inbox_clause
from engine.rectification.models import Hazard


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


def hazard_timeline(s: Session, hazard_id: int) -> list[tuple[Event, str | None]]:
    """Every event of a hazard in order, with the actor's display name."""
    stmt = (select(Event, User.display_name).outerjoin(User, Event.actor_id == User.id)
            .where(Event.hazard_id == hazard_id).order_by(Event.occurred_at, Event.id))
    return [(event, name) for event, name in s.execute(stmt)]
