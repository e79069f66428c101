"""The inbox as users see it: task pages of every process (with the hazard where there is one), a hazard's timeline."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.org.models import User
from engine.process.models import Event
from engine.process.tasklist import Page
from engine.rectification import visibility


def inbox(s: Session, user: User, view: str, now: datetime, page: int = 1, per_page: int = 50,
          filters: dict | None = None, hooks=None, cursor: str | None = None) -> Page:
    """One page of an inbox view, most urgent first: tasks of every process, each with its process, business key,
    unit and (where there is one) hazard or campaign; the filters of engine.rectification.visibility."""
    return visibility.list_tasks(s, user, now, view, filters, page, per_page, hooks=hooks, cursor=cursor)


def hazard_timeline(s: Session, hazard_id: int) -> list[tuple[Event, str | None]]:
    """Every event of a hazard in order, with the actor's display name."""
    stmt = (select(Event, User.display_name).outerjoin(User, Event.actor_id == User.id)
            .where(Event.hazard_id == hazard_id).order_by(Event.occurred_at, Event.id))
    return [(event, name) for event, name in s.execute(stmt)]
