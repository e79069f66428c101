"""The task lifecycle's guards, without a database: who may claim, unclaim, delegate and complete a ready task."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.infra.errors import NotAllowed, StaleTask, TaskAlreadyClaimed
from engine.process.lifecycle import (
    GUARDS,
    TaskState,
    Transition,
    can_act_on_task,
    require,
)

STAFF, COLLEGE = "department_staff", 7


def _user(user_id: int, *grants: tuple[str, int]):
    return SimpleNamespace(id=user_id, grants=[SimpleNamespace(role=r, org_id=o) for r, o in grants])


def _task(state=TaskState.READY, assignee_id=None):
    definition = SimpleNamespace(task_meta={})  # no excludePerformersOf: separation of duties asks no database
    return SimpleNamespace(id=5, state=state, assignee_id=assignee_id, candidate_role=STAFF,
                           candidate_org_id=COLLEGE, bpmn_id="rectify", name="整改",
                           instance=SimpleNamespace(definition=definition))


member, colleague, outsider = _user(1, (STAFF, COLLEGE)), _user(2, (STAFF, COLLEGE)), _user(3, (STAFF, 8))


def test_every_transition_has_a_guard_from_ready():
    assert set(GUARDS) == set(Transition)
    assert all(guard.from_states == {TaskState.READY} for guard in GUARDS.values())


@pytest.mark.parametrize("transition", [Transition.CLAIM, Transition.DELEGATE, Transition.COMPLETE,
                                        Transition.REQUEST_COORDINATION])
def test_a_group_member_may_act_on_an_unclaimed_task(transition):
    task = _task()
    assert require(None, transition, member, task) is task


def test_someone_outside_the_group_is_refused_before_the_state_is_looked_at():
    with pytest.raises(NotAllowed, match="task 5 is not yours to work on"):
        require(None, Transition.CLAIM, outsider, _task(state=TaskState.COMPLETED))


def test_a_finished_task_is_stale():
    with pytest.raises(StaleTask, match="task 5 is already completed"):
        require(None, Transition.COMPLETE, member, _task(state=TaskState.COMPLETED))


def test_a_task_claimed_by_a_colleague_is_refused_with_the_claim_messages():
    with pytest.raises(TaskAlreadyClaimed, match="task 5 was already claimed by someone else"):
        require(None, Transition.CLAIM, member, _task(assignee_id=colleague.id))
    with pytest.raises(TaskAlreadyClaimed, match="task 5 is claimed by someone else"):
        require(None, Transition.COMPLETE, member, _task(assignee_id=colleague.id))


def test_only_the_holder_may_unclaim():
    with pytest.raises(NotAllowed, match="task 5 is not claimed by you"):
        require(None, Transition.UNCLAIM, member, _task())
    assert require(None, Transition.UNCLAIM, member, _task(assignee_id=member.id))


def test_an_assignee_without_the_role_may_still_complete():
    assert require(None, Transition.COMPLETE, outsider, _task(assignee_id=outsider.id))


@pytest.mark.parametrize(("user", "task", "expected"), [
    (member, _task(), True),
    (member, _task(assignee_id=member.id), True),
    (member, _task(assignee_id=colleague.id), False),
    (outsider, _task(), False),
    (outsider, _task(assignee_id=outsider.id), True),
    (member, _task(state=TaskState.CANCELLED), False),
])
def test_can_act_on_task_answers_like_the_complete_guard(user, task, expected):
    assert can_act_on_task(user, task) is expected
    try:
        require(None, Transition.COMPLETE, user, task)
        allowed = True
    except (NotAllowed, StaleTask, TaskAlreadyClaimed):
        allowed = False
    assert allowed is expected
