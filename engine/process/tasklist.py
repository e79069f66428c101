"""Read side of the core: inbox clauses and counts, task rows of every process, and deployed definitions.

Paginated (by page number or keyset cursor), indexed, no query per row."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData
from engine.org.models import OrgNode, User
from engine.process.lifecycle import assigned_clause, mine_or_offered_clause, offered_clause, open_clause
from engine.process.models import HumanTask, ProcessDefinition, ProcessInstance

INBOX_VIEWS = ("mine", "groups", "overdue")
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int
    next_cursor: str | None = None  # keyset: pass it back to get the page after this one


def inbox_clause(user: User, view: str, now: datetime):
    """The WHERE clause of one inbox view for one user (the lifecycle's rules, as SQL)."""
    if view == "mine":
        return and_(open_clause(), assigned_clause(user))
    if view == "groups":
        return and_(open_clause(), offered_clause(user))
    if view == "overdue":
        return and_(open_clause(), HumanTask.due_at < now, mine_or_offered_clause(user))
    raise ValueError(f"unknown inbox view {view!r}; expected one of {INBOX_VIEWS}")


def inbox_counts(s: Session, user: User, now: datetime) -> dict[str, int]:
    """How many tasks each inbox view holds."""
    return {view: s.scalar(select(func.count()).select_from(HumanTask).where(inbox_clause(user, view, now)))
            for view in INBOX_VIEWS}



def process_names(s: Session) -> list[tuple[str, str]]:
    """(key, name of its latest version) of every deployed process, by name: the inbox's process filter."""
    latest: dict[str, str] = {}
    for key, name in s.execute(select(ProcessDefinition.key, ProcessDefinition.name)
                               .order_by(ProcessDefinition.key, ProcessDefinition.version.desc())):
        latest.setdefault(key, name)
    return sorted(latest.items(), key=lambda kv: (kv[1], kv[0]))


def definitions(s: Session) -> list[ProcessDefinition]:
    """Every deployed definition version, newest first per process."""
    return list(s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())))


# -- the one inbox: tasks of every process with their process, business key, unit and subject ------------------
class TaskRow:
    """One task of any process as lists show it; reads through to the task row for its own columns."""

    def __init__(self, task: HumanTask, process_key: str, process_name: str, process_version: int,
                 business_key: str | None, unit_id: int | None, unit_name: str | None, subject: dict | None = None):
        self.task = task
        self.process_key = process_key
        self.process_name = process_name
        self.process_version = process_version
        self.business_key = business_key
        self.unit_id = unit_id
        self.unit_name = unit_name
        self.subject = subject  # {"kind", "id", "title"} from the subject's describer, or None
        self.campaign = subject if subject and subject.get("kind") == "campaign" else None

    def __getattr__(self, name):
        return getattr(self.task, name)


def encode_cursor(task: HumanTask) -> str:
    """A keyset cursor after `task` in inbox order (due time first, no due time last, then priority, then id)."""
    due = task.due_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%f") if task.due_at else "-"
    return f"{due}~{task.priority}~{task.id}"


def decode_cursor(cursor: str) -> tuple[datetime | None, int, int]:
    """(due_at or None, priority, id) of a cursor; InvalidFormData for a cursor no list gave out."""
    try:
        due, priority, task_id = cursor.split("~")
        when = None if due == "-" else datetime.strptime(due, "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
        return when, int(priority), int(task_id)
    except ValueError:
        raise InvalidFormData(f"cursor {cursor!r} is not one this list gave out",
                              [{"field": "cursor", "message": "pass back a next_cursor of this list"}]) from None


def after_cursor(cursor: str):
    """WHERE clause: the tasks that come after the cursor in inbox order."""
    due, priority, task_id = decode_cursor(cursor)
    same_due_later = or_(HumanTask.priority < priority, and_(HumanTask.priority == priority, HumanTask.id > task_id))
    if due is None:
        return and_(HumanTask.due_at.is_(None), same_due_later)
    return or_(HumanTask.due_at.is_(None), HumanTask.due_at > due, and_(HumanTask.due_at == due, same_due_later))


def task_rows_select(unit_column=None, joins: Callable | None = None):
    """SELECT of task rows with their process and unit; `unit_column` is the subject's unit, else the candidate org.

    `joins(stmt)` adds the subject's outer joins (engine.rectification joins the hazard) before the unit's join."""
    unit_column = HumanTask.candidate_org_id if unit_column is None else unit_column
    stmt = (select(HumanTask, ProcessDefinition.key, ProcessDefinition.name, ProcessDefinition.version,
                   ProcessInstance.business_key, unit_column.label("unit_id"), OrgNode.name)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id))
    if joins is not None:
        stmt = joins(stmt)
    return stmt.outerjoin(OrgNode, OrgNode.id == unit_column)


# Inbox orders: most urgent first (the default; keyset cursors follow it), highest priority first, oldest first.
TASK_SORTS = {
    "due": (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.priority.desc(), HumanTask.id),
    "priority": (HumanTask.priority.desc(), HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id),
    "age": (HumanTask.created_at, HumanTask.id),
}


def task_page(s: Session, stmt, where: list, hooks=None, page: int = 1, per_page: int = 50,
              cursor: str | None = None, options: tuple = (), sort: str = "due") -> Page:
    """One page of task rows in `sort` order (TASK_SORTS): a count, the rows (with `options` loaded in the same
    statement) and one label query per subject kind on the page. With a cursor the page starts after it (keyset,
    in the default order only); else by number."""
    if sort not in TASK_SORTS:
        raise InvalidFormData(f"sort must be one of {', '.join(TASK_SORTS)}",
                              [{"field": "sort", "message": f"one of {', '.join(TASK_SORTS)}"}])
    if cursor and sort != "due":
        raise InvalidFormData("a cursor pages the default order (sort=due); page by number in another order",
                              [{"field": "cursor", "message": "only with sort=due"}])
    page, per_page = max(1, page), max(1, min(per_page, MAX_PAGE_SIZE))
    counted = stmt.with_only_columns(HumanTask.id).where(*where)
    total = s.scalar(select(func.count()).select_from(counted.subquery()))
    ordered = stmt.where(*where).options(*options).order_by(*TASK_SORTS[sort])
    if cursor:
        ordered = ordered.where(after_cursor(cursor)).limit(per_page + 1)
    else:
        ordered = ordered.limit(per_page + 1).offset((page - 1) * per_page)
    found = s.execute(ordered).all()
    more, found = len(found) > per_page, found[:per_page]
    labels = hooks.describe(s, [row[4] for row in found]) if hooks is not None else {}
    items = [TaskRow(task, key, name, version, business_key, unit_id, unit_name, labels.get(business_key))
             for task, key, name, version, business_key, unit_id, unit_name in found]
    return Page(items=items, total=total, page=page, per_page=per_page,
                next_cursor=encode_cursor(items[-1].task) if more and items and sort == "due" else None)
