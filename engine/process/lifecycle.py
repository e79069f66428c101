"""The human task lifecycle: the states of tasks and instances, and the guarded transitions between them.

A task is `ready` while the process waits for it; it becomes `completed` when someone submits its form, or
`cancelled` when the process moves on without it (a boundary event, an instance superseded by a look-back).
While it is ready, people move it between hands: claim, unclaim, delegate, complete and request coordination
belong to whoever may work on it; extend, reassign and take over belong to a level it was escalated to.

Each transition is one row of `GUARDS`: the states it starts from, its one permission rule, and who may hold
the task when it starts. The verbs call `require` under their row locks and then make the change; the read side
(`can_act_on_task`, the inbox clauses) asks the same predicates, so a button is shown exactly when the verb
would accept it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, func, or_, select, tuple_, union_all
from sqlalchemy.orm import Session, aliased

from engine.infra.errors import (
    NotAllowed,
    RectiflowError,
    StaleTask,
    TaskAlreadyClaimed,
)
from engine.org import accounts
from engine.org.models import User
from engine.process import candidates
from engine.process.instances import lock_task
from engine.process.models import HumanTask, ProcessInstance, TaskCandidate, TaskEscalation
from engine.process.states import InstanceState, TaskState

__all__ = [  # the states are defined in states.py (below the models) and belong here
    "GUARDS", "Guard", "Holder", "InstanceState", "TaskState", "Transition", "assigned_clause", "can_act_on_task",
    "escalated", "escalated_clause", "holds_task_role", "is_escalated_to", "is_named_candidate",
    "mine_or_offered_clause", "offered_clause", "open_clause",
    "require", "require_recipient", "works_on",
]


class Transition(StrEnum):
    """What a person may do to a ready task."""

    CLAIM = "claim"
    UNCLAIM = "unclaim"
    DELEGATE = "delegate"
    COMPLETE = "complete"
    REQUEST_COORDINATION = "request_coordination"
    EXTEND = "extend"
    REASSIGN = "reassign"
    TAKE_OVER = "take_over"


# -- the predicates --------------------------------------------------------------------------------
def _grants(user: User) -> set[tuple[str, int]]:
    return {(g.role, g.org_id) for g in user.grants}


def holds_task_role(user: User, task: HumanTask) -> bool:
    """True when the user holds the task's role at the task's candidate organisation."""
    return (task.candidate_role, task.candidate_org_id) in _grants(user)


def is_named_candidate(user: User, task: HumanTask) -> bool:
    """True when the task's further candidates name the user or a group they belong to (candidateUsers/Groups)."""
    candidates = getattr(task, "candidates", None)  # plain task stand-ins (tests, previews) have none
    if not candidates:
        return False
    grants = _grants(user)
    return any(c.user_id == user.id or (c.role, c.org_id) in grants for c in candidates)


def works_on(s: Session | None, user: User, task: HumanTask) -> bool:
    """True when the task is offered to a group the user belongs to or to them by name, or is assigned to them."""
    return holds_task_role(user, task) or task.assignee_id == user.id or is_named_candidate(user, task)


def escalated_clause(user: User):
    """SQL clause over TaskEscalation: the levels this user stands for (named, or by a role they hold)."""
    pairs = [(g.role, g.org_id) for g in user.grants]
    clauses = [TaskEscalation.target_user_id == user.id]
    if pairs:
        clauses.append(tuple_(TaskEscalation.target_role, TaskEscalation.target_org_id).in_(pairs))
    return or_(*clauses)


def is_escalated_to(s: Session, user: User, task_id: int) -> bool:
    """True when the task reached a level this user stands for (whether it is still open or not)."""
    return s.scalar(select(TaskEscalation.id).where(TaskEscalation.task_id == task_id, escalated_clause(user))
                    .limit(1)) is not None


def escalated(s: Session, user: User, task: HumanTask) -> bool:
    """True when the task was escalated to a level this user stands for."""
    return is_escalated_to(s, user, task.id)


def _unclaimed_or_own(user: User, task: HumanTask) -> bool:
    return task.assignee_id is None or task.assignee_id == user.id


def _own(user: User, task: HumanTask) -> bool:
    return task.assignee_id == user.id


def _own_with_group(user: User, task: HumanTask) -> bool:
    """Claimed by the user, and offered to someone else too (a task assigned by name has nowhere to go back to)."""
    return _own(user, task) and (task.candidate_role is not None or bool(getattr(task, "candidates", None)))


# -- the table ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Holder:
    """Who may hold the task when a transition starts, and the refusal otherwise ({task_id} is filled in)."""

    allows: Callable[[User, HumanTask], bool]
    error: type[RectiflowError]
    message: str


@dataclass(frozen=True)
class Guard:
    """One transition: the states it starts from, its permission rule and refusal, and who may hold the task."""

    permission: Callable[[Session | None, User, HumanTask], bool]
    refusal: str
    holder: Holder | None = None
    from_states: frozenset[TaskState] = frozenset({TaskState.READY})
    # complete only: whoever did a step the diagram excludes (excludePerformersOf) may not do this one
    separation_of_duties: bool = False


NOT_YOURS = "task {task_id} is not yours to work on"
NOT_ESCALATED = "task {task_id} has not been escalated to you"
_CLAIMED = Holder(_unclaimed_or_own, TaskAlreadyClaimed, "task {task_id} is claimed by someone else")

GUARDS: dict[Transition, Guard] = {
    Transition.CLAIM: Guard(works_on, NOT_YOURS, Holder(_unclaimed_or_own, TaskAlreadyClaimed,
                                                        "task {task_id} was already claimed by someone else")),
    Transition.UNCLAIM: Guard(works_on, NOT_YOURS, Holder(_own_with_group, NotAllowed,
                                                          "task {task_id} is not claimed by you, or has no group "
                                                          "to give it back to")),
    Transition.DELEGATE: Guard(works_on, NOT_YOURS, _CLAIMED),
    Transition.COMPLETE: Guard(works_on, NOT_YOURS, _CLAIMED, separation_of_duties=True),
    Transition.REQUEST_COORDINATION: Guard(works_on, NOT_YOURS),
    Transition.EXTEND: Guard(escalated, NOT_ESCALATED),
    Transition.REASSIGN: Guard(escalated, NOT_ESCALATED),
    Transition.TAKE_OVER: Guard(escalated, NOT_ESCALATED),
}


def require(s: Session | None, transition: Transition, user: User, task: HumanTask) -> HumanTask:
    """Refuse the transition unless the user may make it on the task now; returns the task.

    The order of the checks is the order of the errors: permission (NotAllowed), state (StaleTask), who holds
    the task (TaskAlreadyClaimed or NotAllowed), separation of duties (NotAllowed). The session is needed by the
    escalation rule and by separation of duties when the diagram excludes performers."""
    guard = GUARDS[transition]
    if not guard.permission(s, user, task):
        raise NotAllowed(guard.refusal.format(task_id=task.id))
    if task.state not in guard.from_states:
        raise StaleTask(f"task {task.id} is already {task.state}")
    if guard.holder is not None and not guard.holder.allows(user, task):
        raise guard.holder.error(guard.holder.message.format(task_id=task.id))
    if guard.separation_of_duties:
        _require_separation_of_duties(s, task, user)
    return task


def require_locked(s: Session, transition: Transition, user: User,
                   task_id: int) -> tuple[ProcessInstance, HumanTask]:
    """Lock the task in the engine's order (engine.process.instances.lock_task: its instance, then the task row),
    then `require` the transition on what was committed before the locks; returns (instance, task)."""
    instance, task = lock_task(s, task_id)
    return instance, require(s, transition, user, task)


def require_recipient(s: Session, transition: Transition, task: HumanTask, to_user_id: int) -> User:
    """The person a delegation or reassignment hands the task to, if they may receive it."""
    if transition is Transition.DELEGATE:
        target = accounts.get_user(s, to_user_id)
        if not (holds_task_role(target, task) or is_named_candidate(target, task)):
            raise NotAllowed(f"{target.display_name} does not hold the role this task needs")
        return target
    if transition is Transition.REASSIGN:
        # An escalated level may reach further down: the role at the task's organisation or below it.
        candidates.require_candidate(s, task, to_user_id)
        return accounts.get_user(s, to_user_id)
    raise ValueError(f"{transition} hands the task to nobody")


def _require_separation_of_duties(s: Session, task: HumanTask, user: User) -> None:
    excluded = (task.instance.definition.task_meta.get(task.bpmn_id) or {}).get("exclude_performers_of") or []
    if not excluded:
        return
    did = s.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id == task.instance_id, HumanTask.bpmn_id.in_(excluded),
        HumanTask.state == TaskState.COMPLETED, HumanTask.completed_by_id == user.id,
    ))
    if did:
        raise NotAllowed(f"you carried out {', '.join(excluded)} on this process, so you may not do {task.name}")


# -- the read side: the same rules, for pages and inbox queries ----------------------------------------
def can_act_on_task(user: User, task: HumanTask) -> bool:
    """True when the task waits for this user: assigned to them, or open to a group they belong to or to them by name.

    The complete guard short of separation of duties, which needs the database and is checked on submit."""
    guard = GUARDS[Transition.COMPLETE]
    return (task.state in guard.from_states and guard.permission(None, user, task)
            and guard.holder.allows(user, task))


def open_clause():
    """SQL clause over HumanTask: tasks a person may still act on."""
    return HumanTask.state == TaskState.READY


def assigned_clause(user: User):
    """SQL clause over HumanTask: tasks in this user's own hands."""
    return HumanTask.assignee_id == user.id


def _offered_ids(user: User) -> list:
    """Selects of the ids of tasks offered to a group this user belongs to, or to them by name (claimed or not).

    Callers join them with one flat UNION ALL, not an OR: PostgreSQL cannot combine an OR of a subquery and the
    group columns with indexes, and reads every task instead (bench/inbox_explain.py shows the plans); SQLite takes
    no nested, parenthesised compound select."""
    pairs = [(g.role, g.org_id) for g in user.grants]
    named = [TaskCandidate.user_id == user.id]
    if pairs:
        named.append(tuple_(TaskCandidate.role, TaskCandidate.org_id).in_(pairs))
    selects = [select(TaskCandidate.task_id).where(or_(*named))]
    if pairs:
        group = aliased(HumanTask)
        selects.append(select(group.id).where(tuple_(group.candidate_role, group.candidate_org_id).in_(pairs)))
    return selects


def _ids(selects: list):
    return selects[0] if len(selects) == 1 else union_all(*selects)


def offered_clause(user: User):
    """SQL clause over HumanTask: unclaimed tasks offered to a group this user belongs to, or to them by name."""
    return and_(HumanTask.assignee_id.is_(None), HumanTask.id.in_(_ids(_offered_ids(user))))


def mine_or_offered_clause(user: User):
    """SQL clause over HumanTask: assigned_clause OR offered_clause, as one indexed id list (see _offered_ids)."""
    mine = aliased(HumanTask)
    ids = _ids([select(mine.id).where(mine.assignee_id == user.id), *_offered_ids(user)])
    return and_(or_(HumanTask.assignee_id == user.id, HumanTask.assignee_id.is_(None)), HumanTask.id.in_(ids))
