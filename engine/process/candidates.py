"""Who may do a task: the people an escalated level may hand it to, and the check that a choice is one of them.

A candidate holds the task's role (its lane) at the task's candidate organisation or at a node below it (a grid
officer under a college), is active, is not the task's current holder, and did not carry out a step the task
excludes (`excludePerformersOf` in the diagram: whoever fixed a hazard does not accept it). The list and the check
are the same query, so the form offers exactly what the service accepts.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.infra.errors import InvalidFormData
from engine.org.models import OrgNode, RoleGrant, User
from engine.process.models import HumanTask, ProcessDefinition, ProcessInstance

# states.py, not lifecycle.py: the lifecycle builds on this module (whom a reassignment may reach).
from engine.process.states import TaskState

MAX_CANDIDATES = 100  # a page of candidates is bounded whatever the caller asks for
NOT_A_CANDIDATE = "所选人员不能办理此任务（须在任务所属单位担任相应角色，且未被排除）"


@dataclass(frozen=True)
class Candidate:
    """One person the task may go to, with the unit shown next to the name."""

    id: int
    username: str
    display_name: str
    org_name: str


@dataclass(frozen=True)
class CandidatePage:
    """One page of candidates and how many there are in all (for "narrow the search" hints)."""

    items: list[Candidate]
    total: int


def excluded_steps(s: Session, task: HumanTask) -> list[str]:
    """The BPMN ids whose performers may not do this task (read from the task's meta only, not the whole spec)."""
    meta = s.scalar(select(ProcessDefinition.task_meta[task.bpmn_id])
                    .join(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
                    .where(ProcessInstance.id == task.instance_id))
    return list((meta or {}).get("exclude_performers_of") or [])


def _candidate_filter(task: HumanTask, excluded: list[str]):
    """WHERE clauses over User: the rule in the module docstring, as SQL."""
    grant_org, task_org = aliased(OrgNode), aliased(OrgNode)
    holds_role = (select(RoleGrant.user_id)
                  .join(grant_org, grant_org.id == RoleGrant.org_id)
                  .join(task_org, task_org.id == task.candidate_org_id)
                  .where(RoleGrant.role == task.candidate_role, grant_org.path.startswith(task_org.path)))
    clauses = [User.active.is_(True), User.id.in_(holds_role)]
    if task.assignee_id is not None:
        clauses.append(User.id != task.assignee_id)
    if excluded:
        clauses.append(~exists().where(
            HumanTask.instance_id == task.instance_id, HumanTask.bpmn_id.in_(excluded),
            HumanTask.state == TaskState.COMPLETED, HumanTask.completed_by_id == User.id))
    return clauses


def task_candidates(s: Session, task: HumanTask, search: str | None = None, limit: int = 20,
                    offset: int = 0) -> CandidatePage:
    """One page of the people who may do the task, by name, optionally narrowed by a name or login search."""
    if task.candidate_role is None or task.candidate_org_id is None or task.state != TaskState.READY:
        return CandidatePage([], 0)
    where = _candidate_filter(task, excluded_steps(s, task))
    if search and search.strip():
        term = search.strip()
        where.append(or_(User.username.icontains(term, autoescape=True),
                         User.display_name.icontains(term, autoescape=True)))
    limit = max(1, min(limit, MAX_CANDIDATES))
    # One query: the page and, through a window count, the total that matched.
    rows = s.execute(select(User.id, User.username, User.display_name, OrgNode.name, func.count().over())
                     .join(OrgNode, OrgNode.id == User.org_id).where(*where)
                     .order_by(User.display_name, User.id).limit(limit).offset(max(offset, 0))).all()
    return CandidatePage([Candidate(*row[:4]) for row in rows], rows[0][4] if rows else 0)


def is_candidate(s: Session, task: HumanTask, user_id: int) -> bool:
    """True when `user_id` is one of the task's candidates (the check a reassignment must pass)."""
    if task.candidate_role is None or task.candidate_org_id is None or task.state != TaskState.READY:
        return False
    return s.scalar(select(User.id).where(User.id == user_id, *_candidate_filter(task, excluded_steps(s, task)))
                    .limit(1)) is not None


def require_candidate(s: Session, task: HumanTask, user_id: int) -> None:
    """Refuse, as a form error on `user_id`, a choice that is not one of the task's candidates."""
    if not is_candidate(s, task, user_id):
        raise InvalidFormData(f"user {user_id} is not a candidate for task {task.id}: does not hold the role this "
                              "task needs at its organisation, already holds the task, or is excluded",
                              [{"field": "user_id", "message": NOT_A_CANDIDATE}])
