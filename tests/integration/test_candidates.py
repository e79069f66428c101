"""Who an escalated task may be reassigned to: the candidates query and the service's check, on both databases."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from engine.infra.errors import InvalidFormData
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.process import candidates, escalation
from engine.process.models import Event, HumanTask

from .only_rectification import bpmn_dir  # noqa: F401

PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-09-24",
        "plan_contingency": "停用该车床"}


def china(y, m, d, hh=18, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


@pytest.fixture
def rectify_task(services, world, report_hazard, do, task_of, clock):
    """The college's rectify task (department_staff at the college), due Thursday 2026-09-24 18:00."""
    clock.set(china(2026, 9, 22, 9))
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-09-24",
        "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    return task_of(hazard.id, "rectify")


@pytest.fixture
def add_user(services):
    """Factory: one more user with (role, org id) grants; returns the id."""

    def _add(name, home_org_id, *grants, active=True):
        with services.uow() as uow:
            s = uow.session
            user = accounts.add_user(s, name, f"姓名{name}", "pw", s.get(OrgNode, home_org_id), services.clock.now())
            for role, org_id in grants:
                accounts.grant_role(s, user, role, s.get(OrgNode, org_id))
            user.active = active
            uow.commit()
            return user.id

    return _add


def _names(services, task_id, **kwargs) -> tuple[list[str], int]:
    with services.uow() as uow:
        page = candidates.task_candidates(uow.session, uow.session.get(HumanTask, task_id), **kwargs)
        return [c.username for c in page.items], page.total


def test_candidates_hold_the_lane_role_at_the_task_org_or_below_and_are_active(
        services, world, rectify_task, add_user):
    with services.uow() as uow:
        grid = accounts.add_org(uow.session, "grid", "实训楼网格", "s-jd-grid",
                                uow.session.get(OrgNode, world.orgs.college))
        uow.commit()
        grid_id = grid.id
    add_user("grid_officer", grid_id, ("department_staff", grid_id))
    add_user("gone", world.orgs.college, ("department_staff", world.orgs.college), active=False)
    add_user("school_staff", world.orgs.school, ("department_staff", world.orgs.school))  # above the task org
    names, total = _names(services, rectify_task.id)
    assert sorted(names) == ["grid_officer", "staff", "staff2"] and total == 3
    # head holds another role there; logistics_staff the role elsewhere; outsider another school.


def test_the_current_holder_and_the_excluded_performers_are_not_candidates(
        services, world, report_hazard, do, task_of, clock):
    clock.set(china(2026, 9, 22, 9))
    with services.uow() as uow:  # staff2 also serves in the security office, which accepts rectifications
        s = uow.session
        accounts.grant_role(s, s.get(User, world.users.staff2), "security_office", s.get(OrgNode, world.orgs.school))
        uow.commit()
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-09-24",
        "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    services.claim_task(task_of(hazard.id, "rectify").id, world.users.staff)
    assert _names(services, task_of(hazard.id, "rectify").id)[0] == ["staff2"], "staff holds it already"
    services.unclaim_task(task_of(hazard.id, "rectify").id, world.users.staff)
    do(hazard.id, "rectify", world.users.staff2, {"measures": "已加装", "completion": "完成"})
    accept = task_of(hazard.id, "accept_rectification")
    assert sorted(_names(services, accept.id)[0]) == ["security", "security2"], "whoever fixed it does not accept it"


def test_search_narrows_and_pages_are_bounded_with_the_total(services, world, rectify_task, add_user):
    for i in range(5):
        add_user(f"extra{i}", world.orgs.college, ("department_staff", world.orgs.college))
    assert _names(services, rectify_task.id, search="EXTRA3") == (["extra3"], 1), "login names, any case"
    assert _names(services, rectify_task.id, search="姓名extra")[1] == 5, "display names"
    assert _names(services, rectify_task.id, search="%") == ([], 0), "LIKE wildcards are escaped"
    first, total = _names(services, rectify_task.id, limit=3)
    second, _ = _names(services, rectify_task.id, limit=3, offset=3)
    assert total == 7 and len(first) == 3 and len(second) == 3 and not set(first) & set(second)
    assert len(_names(services, rectify_task.id, limit=10_000)[0]) == 7
    with services.uow() as uow:
        task = uow.session.get(HumanTask, rectify_task.id)
        assert candidates.MAX_CANDIDATES == 100
        assert candidates.task_candidates(uow.session, task, limit=0).items, "a page holds at least one"


def test_the_list_is_one_query_whatever_the_number_of_candidates(services, world, rectify_task, add_user):
    def statements() -> list[str]:
        seen = []
        engine = services.session_factory.kw["bind"]
        listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with services.uow() as uow:
                task = uow.session.get(HumanTask, rectify_task.id)
                seen.clear()  # only what the query itself costs, not loading the task
                candidates.task_candidates(uow.session, task)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return seen

    few = statements()
    for i in range(10):
        add_user(f"more{i}", world.orgs.college, ("department_staff", world.orgs.college))
    many = statements()
    assert len(few) == len(many) == 2, "the task's excluded steps, then the page with its total"
    assert "user" in many[1].lower() and "over" in many[1].lower()


def test_reassigning_to_a_non_candidate_is_refused_clearly_and_changes_nothing(
        services, world, rectify_task, clock, add_user):
    clock.set(china(2026, 9, 25, 9))
    escalation.escalate_overdue(services)
    gone = add_user("gone", world.orgs.college, ("department_staff", world.orgs.college), active=False)
    for stranger in (world.users.logistics_staff, world.users.outsider, world.users.head, gone, 999_999):
        with pytest.raises(InvalidFormData, match="not a candidate") as refused:
            escalation.reassign_task(services, rectify_task.id, world.users.head, stranger)
        assert refused.value.errors == [{"field": "user_id", "message": candidates.NOT_A_CANDIDATE}]
    with services.uow() as uow:
        assert uow.session.get(HumanTask, rectify_task.id).assignee_id is None
        assert not uow.session.scalars(select(Event).where(Event.kind == "TaskReassigned")).first()
    task = escalation.reassign_task(services, rectify_task.id, world.users.head, world.users.staff2, "出差")
    assert task.assignee_id == world.users.staff2
    with pytest.raises(InvalidFormData, match="not a candidate"):
        escalation.reassign_task(services, rectify_task.id, world.users.head, world.users.staff2)
