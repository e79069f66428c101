"""Administration verbs on both databases: the org tree, people and grants, delegated scope and the audit trail."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.admin import orgs, people
from engine.infra.errors import Conflict, InvalidFormData, NotFound
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.process.models import Event, HumanTask, OutboxMessage
from engine.process.states import TaskState
from web.scope import units_of_school


def _admin_at(services, org_id: int, name: str) -> int:
    with services.uow() as uow:
        s = uow.session
        user = accounts.add_user(s, name, name, "pw-" + name, s.get(OrgNode, org_id), services.clock.now(),
                                 roles=[("admin", s.get(OrgNode, org_id))])
        uow.commit()
        return user.id


def _do(services, verb, actor_id: int | None = None):
    with services.uow() as uow:
        s = uow.session
        actor = s.get(User, actor_id) if actor_id else None
        result = verb(s, actor, services.clock.now())
        uow.commit()
        return result


def test_add_move_and_kind_order(services, world):
    school_admin = _admin_at(services, world.orgs.school, "school_admin")
    unit = _do(services, lambda s, a, now: orgs.add_node(s, a, now, kind="unit", name="团委", code="s-tw",
                                                        parent_id=world.orgs.school, unit_type="office",
                                                        short_name="团委"), school_admin)
    grid = _do(services, lambda s, a, now: orgs.add_node(s, a, now, kind="grid", name="团委网格", code="s-tw-g",
                                                        parent_id=unit.id))
    with pytest.raises(InvalidFormData) as refused:  # a school under a unit breaks the kind order
        _do(services, lambda s, a, now: orgs.add_node(s, a, now, kind="school", name="x", code="x",
                                                     parent_id=unit.id), school_admin)
    assert refused.value.errors[0]["field"] == "parent_id"
    with pytest.raises(InvalidFormData):  # the code is taken
        _do(services, lambda s, a, now: orgs.add_node(s, a, now, kind="unit", name="y", code="s-tw",
                                                     parent_id=world.orgs.school))
    # Moving the unit to the other school rewrites its own path and its grid's.
    _do(services, lambda s, a, now: orgs.move_node(s, a, now, unit.id, world.orgs.other_school))
    with services.uow() as uow:
        s = uow.session
        other = s.get(OrgNode, world.orgs.other_school)
        assert s.get(OrgNode, unit.id).path == f"{other.path}{unit.id}/"
        assert s.get(OrgNode, grid.id).path == f"{other.path}{unit.id}/{grid.id}/"
        moved = s.scalars(select(Event).where(Event.kind == "admin.org_moved")).one()
        assert moved.data["before"]["parent_id"] == world.orgs.school
        assert moved.data["after"]["parent_id"] == world.orgs.other_school
    with pytest.raises(InvalidFormData):  # under its own grid
        _do(services, lambda s, a, now: orgs.move_node(s, a, now, unit.id, grid.id))


def test_school_admin_cannot_reach_a_sibling_school_or_the_bureau(services, world):
    school_admin = _admin_at(services, world.orgs.school, "school_admin")
    bureau_admin = _admin_at(services, world.orgs.bureau, "bureau_admin")
    for org_id in (world.orgs.other_school, world.orgs.foreign_unit, world.orgs.bureau):
        with pytest.raises(NotFound):
            _do(services, lambda s, a, now: orgs.update_node(s, a, now, org_id, {"name": "改"}), school_admin)
    with pytest.raises(NotFound):
        _do(services, lambda s, a, now: people.update_user(s, a, now, world.users.outsider, {"phone": "1"}),
            school_admin)
    # The bureau's admin manages both schools below it.
    _do(services, lambda s, a, now: orgs.update_node(s, a, now, world.orgs.foreign_unit, {"short_name": "后勤"}),
        bureau_admin)
    _do(services, lambda s, a, now: people.update_user(s, a, now, world.users.outsider, {"phone": "13900000001"}),
        bureau_admin)
    with services.uow() as uow:
        assert [u.id for u in people.list_users(uow.session, uow.session.get(User, school_admin))
                if u.id == world.users.outsider] == []


def test_deactivation_lists_open_work_until_it_is_handed_over(services, world, report_hazard):
    hazard = report_hazard()
    services.complete_task(_ready(services, hazard.id).id, world.users.security,
                           {"grade": "general", "responsible_unit_id": world.orgs.college,
                            "responsible_person": "刘院长", "deadline": "2026-11-09"})
    new_unit = _do(services, lambda s, a, now: orgs.add_node(s, a, now, kind="unit", name="机电学院（新）",
                                                            code="s-jd2", parent_id=world.orgs.school))
    with pytest.raises(Conflict) as refused:
        _do(services, lambda s, a, now: orgs.set_active(s, a, now, world.orgs.college, False))
    work = refused.value.details["open_work"]
    assert hazard.id in work["hazards"] and work["tasks"] and world.users.staff in work["users"]
    with pytest.raises(InvalidFormData):  # a unit of another school cannot take it
        _do(services, lambda s, a, now: orgs.hand_over(s, a, now, world.orgs.college, world.orgs.foreign_unit))
    moved = _do(services, lambda s, a, now: orgs.hand_over(s, a, now, world.orgs.college, new_unit.id))
    assert moved["hazards"] == 1 and moved["tasks"] >= 1
    for user in ("staff", "staff2", "head"):
        _do(services, lambda s, a, now, u=getattr(world.users, user): people.set_active(s, a, now, u, False))
    node = _do(services, lambda s, a, now: orgs.set_active(s, a, now, world.orgs.college, False))
    assert node.active is False
    with services.uow() as uow:
        task = _ready(services, hazard.id)
        assert task.candidate_org_id == new_unit.id
        # A deactivated unit is no longer offered as 责任单位, and cannot be made responsible for a new hazard.
        assert world.orgs.college not in {u.id for u in units_of_school(uow.session, world.orgs.school)}
    second = report_hazard(world.users.security)
    register = _ready(services, second.id)
    with pytest.raises(InvalidFormData, match="deactivated"):
        services.complete_task(register.id, world.users.security,
                               {"grade": "general", "responsible_unit_id": world.orgs.college,
                                "responsible_person": "刘院长", "deadline": "2026-11-09"})
    assert _ready(services, second.id).id == register.id  # the refused step changed nothing


def _ready(services, hazard_id: int) -> HumanTask:
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(HumanTask.hazard_id == hazard_id,
                                                           HumanTask.state == TaskState.READY)).one()


def test_people_create_edit_grant_and_deactivate(services, world, report_hazard):
    admin = _admin_at(services, world.orgs.school, "school_admin")
    user = _do(services, lambda s, a, now: people.create_user(
        s, a, now, username="newbie", display_name="新同事", org_id=world.orgs.college, password="Init-pass-123",
        employee_no="E001", phone="13800000001",
        roles=[("department_staff", world.orgs.college), ("department_head", world.orgs.college)]), admin)
    assert user.must_change_password
    with pytest.raises(InvalidFormData) as taken:
        _do(services, lambda s, a, now: people.create_user(
            s, a, now, username="other", display_name="重号", org_id=world.orgs.college, employee_no="E001"), admin)
    assert taken.value.errors[0]["field"] == "employee_no"
    with pytest.raises(InvalidFormData):  # a grant at a node the school admin does not administer
        _do(services, lambda s, a, now: people.grant(s, a, now, user.id, "supervisor", world.orgs.bureau), admin)
    # Sign-in by 工号 and by phone as well as by user name.
    with services.uow() as uow:
        for login in ("newbie", "E001", "13800000001"):
            assert accounts.sign_in(uow.session, login, "Init-pass-123", services.clock.now()).user.id == user.id
    # Their claimed task returns to the group when they are deactivated, and the group is told.
    hazard = report_hazard()
    services.complete_task(_ready(services, hazard.id).id, world.users.security,
                           {"grade": "general", "responsible_unit_id": world.orgs.college,
                            "responsible_person": "刘院长", "deadline": "2026-11-09"})
    task = _ready(services, hazard.id)
    services.claim_task(task.id, user.id)
    result = _do(services, lambda s, a, now: people.set_active(s, a, now, user.id, False), admin)
    assert result["returned_tasks"] == [task.id]
    with services.uow() as uow:
        s = uow.session
        assert s.get(HumanTask, task.id).assignee_id is None
        note = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "task_returned")).one()
        assert (note.recipient_role, note.recipient_org_id) == (task.candidate_role, task.candidate_org_id)
        assert accounts.sign_in(s, "newbie", "Init-pass-123", services.clock.now()).user is None
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.kind.like("admin.%")).order_by(Event.id))]
        assert kinds[:2] == ["admin.user_created", "admin.user_deactivated"]
        assert all("password" not in str(e.data) for e in s.scalars(select(Event).where(Event.kind.like("admin.%"))))


def test_sign_in_name_precedence(services, world):
    """A user name equal to someone else's phone signs in the user of that name, never the phone's owner."""
    with services.uow() as uow:
        s = uow.session
        college = s.get(OrgNode, world.orgs.college)
        accounts.add_user(s, "13900000009", "名叫号码", "pw-a", college, services.clock.now())
        owner = accounts.add_user(s, "owner", "号码主人", "pw-b", college, services.clock.now())
        owner.phone = "13900000009"
        uow.commit()
    with services.uow() as uow:
        assert accounts.sign_in(uow.session, "13900000009", "pw-b", services.clock.now()).user is None
        assert accounts.sign_in(uow.session, "13900000009", "pw-a", services.clock.now()).user.username == \
            "13900000009"
