"""Read side of the core: inbox clauses and counts, and deployed definitions. Paginated, indexed, no query per row."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.org.models import User
from engine.process.lifecycle import assigned_clause, offered_clause, open_clause
from engine.process.models import HumanTask, ProcessDefinition

INBOX_VIEWS = ("mine", "groups", "overdue")
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int


def inbox_clause(user: User, view: str, now: datetime):
    """The WHERE clause of one inbox view for one user (the lifecycle's rules, as SQL)."""
    if view == "mine":
        return and_(open_clause(), assigned_clause(user))
    if view == "groups":
        return and_(open_clause(), offered_clause(user))
    if view == "overdue":
        return and_(open_clause(), HumanTask.due_at < now, or_(assigned_clause(user), offered_clause(user)))
    raise ValueError(f"unknown inbox view {view!r}; expected one of {INBOX_VIEWS}")


def inbox_counts(s: Session, user: User, now: datetime) -> dict[str, int]:
    """How many tasks each inbox view holds."""
    return {view: s.scalar(select(func.count()).select_from(HumanTask).where(inbox_clause(user, view, now)))
            for view in INBOX_VIEWS}



def definitions(s: Session) -> list[ProcessDefinition]:
    """Every deployed definition version, newest first per process."""
    return list(s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())))
