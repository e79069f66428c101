"""Organisation scope: which hazards and tasks a user may read, and scoped, filtered, paginated lists of them.

The rule is one line: a user sees a hazard when its responsible unit lies under an org node they hold a role
for (a college's staff: that college; the security office, inspectors and leaders at a school: the school;
a supervisor at a bureau: every school below). A grant at a grid widens to the grid's unit, since hazards are
kept per unit. Reporters also see what they reported. "Lies under" is a prefix match on OrgNode.path.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload, object_session

from engine.infra.errors import NotFound
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.org.scope import Scope, orgs_under, scope_of
from engine.process import tasklist
from engine.process.lifecycle import TaskState, assigned_clause, can_act_on_task, offered_clause, open_clause
from engine.process.models import HumanTask, ProcessDefinition, ProcessInstance
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
    if hazard is None:
        # A task of a process with no hazard: readable across the organisation it is offered at.
        unit_path = session.scalar(select(OrgNode.path).where(OrgNode.id == task.candidate_org_id))
        return unit_path is not None and scope_of(session, user).covers(unit_path)
    return can_view_hazard(session, user, hazard)


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


# How a hazard list may be ordered; each ends on the id so pages never overlap.
HAZARD_SORTS = {
    "reported": (Hazard.reported_at.desc(), Hazard.id.desc()),  # newest first (the default)
    "deadline": (Hazard.deadline.asc().nulls_last(), Hazard.id.asc()),  # the most pressing first
    "unit": (Hazard.unit_id.asc(), Hazard.unit_serial.asc(), Hazard.id.asc()),  # as the ledger numbers them
}


def hazard_search_clauses(text: str | None = None, overdue_at: datetime | None = None, open_only: bool = False) -> list:
    """The hazard list's search box (部位, 检查内容, 问题, 责任人 contain it; or it is the hazard's number, "#12" or
    "12"), its 逾期 filter and 未销号.

    逾期 is the statistics table's and the inbox's rule: the hazard has an open task past its due time at
    `overdue_at` (so a 驾驶舱 figure and the list it opens always agree)."""
    clauses = [Hazard.closed_at.is_(None)] if open_only else []
    text = (text or "").strip()
    if text:
        words = [Hazard.location.icontains(text, autoescape=True),
                 Hazard.check_item.icontains(text, autoescape=True),
                 Hazard.problem.icontains(text, autoescape=True),
                 Hazard.responsible_person.icontains(text, autoescape=True)]
        number = text.removeprefix("#")
        if number.isdigit() and len(number) < 10:
            words.append(Hazard.id == int(number))
        clauses.append(or_(*words))
    if overdue_at is not None:
        clauses.append(exists().where(HumanTask.hazard_id == Hazard.id, HumanTask.state == TaskState.READY,
                                      HumanTask.due_at < overdue_at))
    return clauses


def _hazard_list_where(session, user, filters, text, overdue_at, open_only=False) -> list:
    return [visible_hazards_clause(user, session), *hazard_filter_clauses(filters),
            *hazard_search_clauses(text, overdue_at, open_only)]


def list_hazards(session: Session, user: User, filters: dict | None = None, page: int = 1,
                 per_page: int = 50, *, text: str | None = None, overdue_at: datetime | None = None,
                 open_only: bool = False, sort: str = "reported") -> Page:
    """One page of the hazards the user may read (newest first unless `sort` says otherwise), each with its unit
    loaded in the same query: the API's list and the 隐患查询 page."""
    if sort not in HAZARD_SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(HAZARD_SORTS)}")
    page, per_page = _page_args(page, per_page)
    where = _hazard_list_where(session, user, filters, text, overdue_at, open_only)
    total = session.scalar(select(func.count()).select_from(Hazard).where(*where))
    rows = session.scalars(
        select(Hazard).where(*where).options(joinedload(Hazard.unit))
        .order_by(*HAZARD_SORTS[sort]).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


def iter_hazards(session: Session, user: User, filters: dict | None = None, *, text: str | None = None,
                 overdue_at: datetime | None = None, open_only: bool = False, sort: str = "reported", batch: int = 500):
    """Every hazard the list would show, in its order, fetched `batch` rows at a time (an export's constant memory)."""
    if sort not in HAZARD_SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(HAZARD_SORTS)}")
    where = _hazard_list_where(session, user, filters, text, overdue_at, open_only)
    stmt = (select(Hazard, OrgNode.name).join(OrgNode, OrgNode.id == Hazard.unit_id).where(*where)
            .order_by(*HAZARD_SORTS[sort]).execution_options(yield_per=batch))
    yield from session.execute(stmt)


def task_filter_clauses(filters: dict | None) -> list:
    """WHERE clauses of the task list filters, over the tasks of every process (the hazard joined when there is one).

    The unit is the hazard's unit, else the task's candidate organisation; a campaign matches its hazards' tasks
    and the tasks of its own instances (business keys `campaign:<id>` and `campaign:<id>:unit:<org>`)."""
    clauses, hazard_only = [], {}
    for name, value in (filters or {}).items():
        if value in (None, ""):
            continue
        if name == "unit_id":
            clauses.append(task_unit_column() == value)
        elif name == "campaign_id":
            clauses.append(or_(Hazard.campaign_id == value, ProcessInstance.business_key == f"campaign:{value}",
                               ProcessInstance.business_key.startswith(f"campaign:{value}:")))
        elif name == "process":
            clauses.append(ProcessDefinition.key == value)
        else:
            hazard_only[name] = value
    return clauses + hazard_filter_clauses(hazard_only)


def task_unit_column():
    """A task's unit: its hazard's responsible unit, else the organisation it is offered at."""
    return func.coalesce(Hazard.unit_id, HumanTask.candidate_org_id)


def _join_hazard(stmt):
    return stmt.outerjoin(Hazard, HumanTask.hazard_id == Hazard.id)


def task_rows_select():
    """Task rows of every process with their process, unit and (outer-joined) hazard."""
    return tasklist.task_rows_select(task_unit_column(), _join_hazard)


def visible_tasks_clause(session: Session, user: User):
    """SQL clause over task rows (hazard outer-joined): tasks the user may read in the `all` list.

    A hazard's task by the hazard's scope; a task of any other process when the organisation it is offered at lies
    in the user's scope; and every task offered or assigned to the user."""
    scope = scope_of(session, user)
    clauses = [visible_hazards_clause(user, scope=scope), assigned_clause(user), offered_clause(user)]
    if scope.paths:
        clauses.append(and_(HumanTask.hazard_id.is_(None), HumanTask.candidate_org_id.in_(orgs_under(scope.paths))))
    return or_(*clauses)


def list_tasks(session: Session, user: User, now: datetime, view: str = "mine", filters: dict | None = None,
               page: int = 1, per_page: int = 50, hooks=None, cursor: str | None = None) -> Page:
    """One page of tasks of every process: an inbox view (mine/groups/overdue), or `all` open tasks in scope.

    `filters` are task_filter_clauses', plus `text` (the search box, task_search_clauses) and `sort` (due,
    priority or age; engine.process.tasklist.TASK_SORTS).

    Each item is a TaskRow (process, business key, unit, subject label via `hooks`) with its hazard, if any,
    loaded in the same statement; a page costs a count, the rows and one label query per subject kind."""
    if view not in TASK_VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {TASK_VIEWS}")
    if view == "all":
        where = [open_clause(), visible_tasks_clause(session, user)]
    else:
        where = [inbox_clause(user, view, now)]
    filters = dict(filters or {})
    text, sort = filters.pop("text", None), filters.pop("sort", None) or "due"
    where += task_filter_clauses(filters) + task_search_clauses(text)
    return tasklist.task_page(session, task_rows_select(), where, hooks, page, per_page, cursor,
                              options=(joinedload(HumanTask.hazard), joinedload(HumanTask.assignee)), sort=sort)


def task_search_clauses(text: str | None) -> list:
    """The inbox's search box: the task's name contains it, or its hazard matches the hazard list's search (部位,
    检查内容, 问题, 责任人, or the hazard's number)."""
    text = (text or "").strip()
    if not text:
        return []
    return [or_(HumanTask.name.icontains(text, autoescape=True), *hazard_search_clauses(text))]


def task_row(session: Session, task_id: int, hooks=None) -> tasklist.TaskRow | None:
    """One task as the inbox lists it (process, business key, unit, hazard or campaign); None if it does not exist."""
    page = tasklist.task_page(session, task_rows_select(), [HumanTask.id == task_id], hooks, per_page=1,
                              options=(joinedload(HumanTask.hazard), joinedload(HumanTask.assignee)))
    return page.items[0] if page.items else None
