"""Organisation scope: which hazards and tasks a user may read, and scoped, filtered, paginated lists of them.

The rule is one line: a user sees a hazard when its responsible unit lies under an org node they hold a role
for (a college's staff: that college; the security office, inspectors and leaders at a school: the school;
a supervisor at a bureau: every school below). A grant at a grid widens to the grid's unit, since hazards are
kept per unit. Reporters also see what they reported. "Lies under" is a prefix match on OrgNode.path.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, object_session

from engine.infra.errors import NotFound
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.org.scope import Scope, orgs_under, scope_of
from engine.process.lifecycle import can_act_on_task, open_clause
from engine.process.models import HumanTask
from engine.process.tasklist import MAX_PAGE_SIZE, Page, inbox_clause
from engine.rectification.models import Hazard

# Filters every list accepts, by name → Hazard column (exact match).
HAZARD_FILTERS = {
    "unit_id": Hazard.unit_id,
    "school_id": Hazard.school_id,
    "category": Hazard.category,
    "grade": Hazard.grade,
    "status": Hazard.status,
    "campaign_id": Hazard.campaign_id,
    "source": Hazard.source,
}
TASK_VIEWS = ("mine", "groups", "overdue", "all")
_ONE_DAY = timedelta(days=1)



def visible_hazards_clause(user: User, session: Session | None = None, scope: Scope | None = None):
    """SQL clause over Hazard: the hazards this user may read."""
    if scope is None:
        session = session or object_session(user)
        if session is None:
            raise ValueError("visible_hazards_clause needs a session-bound user, a session or a scope")
        scope = scope_of(session, user)
    if not scope.paths:
        return Hazard.reported_by_id == scope.user_id
    return or_(Hazard.unit_id.in_(orgs_under(scope.paths)), Hazard.reported_by_id == scope.user_id)


def can_view_hazard(session: Session, user: User, hazard: Hazard) -> bool:
    """True when the hazard lies in the user's scope (or they reported it)."""
    if hazard.reported_by_id == user.id:
        return True
    unit_path = session.scalar(select(OrgNode.path).where(OrgNode.id == hazard.unit_id))
    return unit_path is not None and scope_of(session, user).covers(unit_path)




def can_view_task(session: Session, user: User, task: HumanTask) -> bool:
    """A task is readable by whoever may act on it (engine.process.lifecycle) or did, and by whoever may read its hazard."""
    if can_act_on_task(user, task) or user.id in (task.assignee_id, task.completed_by_id):
        return True
    hazard = task.hazard
    return hazard is not None and can_view_hazard(session, user, hazard)


def get_visible_hazard(session: Session, user: User, hazard_id: int) -> Hazard:
    """The hazard if the user may read it; NotFound otherwise (another unit's ids reveal nothing)."""
    hazard = session.get(Hazard, hazard_id)
    if hazard is None or not can_view_hazard(session, user, hazard):
        raise NotFound(f"hazard {hazard_id} does not exist")
    return hazard


def get_visible_task(session: Session, user: User, task_id: int) -> HumanTask:
    """The task if the user may read it; NotFound otherwise."""
    task = session.get(HumanTask, task_id)
    if task is None or not can_view_task(session, user, task):
        raise NotFound(f"task {task_id} does not exist")
    return task


def _china_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, CHINA)


def hazard_filter_clauses(filters: dict | None) -> list:
    """WHERE clauses for the named filters; unknown names are refused so typos do not silently widen a list."""
    clauses = []
    for name, value in (filters or {}).items():
        if value in (None, ""):
            continue
        if name in HAZARD_FILTERS:
            clauses.append(HAZARD_FILTERS[name] == value)
        elif name == "reported_from":
            clauses.append(Hazard.reported_at >= _china_day_start(value))
        elif name == "reported_to":
            clauses.append(Hazard.reported_at < _china_day_start(value) + _ONE_DAY)
        else:
            raise ValueError(f"unknown filter {name!r}")
    return clauses


def _page_args(page: int, per_page: int) -> tuple[int, int]:
    return max(1, page), max(1, min(per_page, MAX_PAGE_SIZE))


def list_hazards(session: Session, user: User, filters: dict | None = None, page: int = 1,
                 per_page: int = 50) -> Page:
    """One page of the hazards the user may read, newest first, each with its unit loaded in the same query."""
    page, per_page = _page_args(page, per_page)
    where = [visible_hazards_clause(user, session), *hazard_filter_clauses(filters)]
    total = session.scalar(select(func.count()).select_from(Hazard).where(*where))
    rows = session.scalars(
        select(Hazard).where(*where).options(joinedload(Hazard.unit))
        .order_by(Hazard.reported_at.desc(), Hazard.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


def list_tasks(session: Session, user: User, now: datetime, view: str = "mine", filters: dict | None = None,
               page: int = 1, per_page: int = 50) -> Page:
    """One page of tasks: an inbox view (mine/groups/overdue), or `all` open tasks of hazards in scope."""
    if view not in TASK_VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {TASK_VIEWS}")
    page, per_page = _page_args(page, per_page)
    if view == "all":
        scope = visible_hazards_clause(user, session)
        first = open_clause()
    else:
        scope, first = inbox_clause(user, view, now), None
    where = [c for c in (first, scope, *hazard_filter_clauses(filters)) if c is not None]
    # An inbox holds the tasks of every process (a patrol's, a campaign's); `all` lists the hazards' in scope.
    join = select(HumanTask).join if view == "all" else select(HumanTask).outerjoin
    base = join(Hazard, HumanTask.hazard_id == Hazard.id).where(*where)
    total = session.scalar(select(func.count()).select_from(base.subquery()))
    rows = session.scalars(
        base.options(joinedload(HumanTask.hazard), joinedload(HumanTask.assignee))
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.priority.desc(), HumanTask.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


