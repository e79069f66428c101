"""Read side: inboxes, a hazard's timeline, definitions. Paginated, indexed, no query per row."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, false, func, or_, select, tuple_
from sqlalchemy.orm import Session

from engine.org.models import User
from engine.process.models import HumanTask, ProcessDefinition

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



def inbox_counts(s: Session, user: User, now: datetime) -> dict[str, int]:
    """How many tasks each inbox view holds."""
    return {view: s.scalar(select(func.count()).select_from(HumanTask).where(inbox_clause(user, view, now)))
            for view in INBOX_VIEWS}



def definitions(s: Session) -> list[ProcessDefinition]:
    """Every deployed definition version, newest first per process."""
    return list(s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())))


def can_act_on_task(user: User, task: HumanTask) -> bool:
    """True when the task waits for this user: assigned to them, or open to a group they belong to."""
    if task.state != "ready":
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return (task.candidate_role, task.candidate_org_id) in {(g.role, g.org_id) for g in user.grants}
