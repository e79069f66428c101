"""Org scope: who reads which hazards and tasks, through one clause, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event, select

from engine.infra.errors import NotFound
from engine.org import accounts
from engine.org import scope as org_scope
from engine.org.models import OrgNode, User
from engine.process.models import HumanTask
from engine.rectification import visibility
from engine.rectification.models import Hazard


@pytest.fixture
def hazards(world, report_hazard):
    """One hazard in the college, one in logistics, one in the other school."""
    return dict(
        college=report_hazard(world.users.staff).id,
        logistics=report_hazard(world.users.logistics_staff, category="消防", location="食堂").id,
        other=report_hazard(world.users.outsider, location="另一学院仓库").id,
    )


def _visible(services, user_id) -> set[int]:
    with services.uow() as uow:
        s = uow.session
        user = s.get(User, user_id)
        return set(s.scalars(select(Hazard.id).where(visibility.visible_hazards_clause(user))))


def test_college_staff_see_only_their_college(services, world, hazards):
    assert _visible(services, world.users.staff) == {hazards["college"]}
    assert _visible(services, world.users.head) == {hazards["college"]}


def test_security_office_and_leader_see_the_whole_school_only(services, world, hazards):
    expected = {hazards["college"], hazards["logistics"]}
    assert _visible(services, world.users.security) == expected
    assert _visible(services, world.users.leader) == expected


def test_bureau_supervisor_sees_every_school_below(services, world, hazards):
    assert _visible(services, world.users.supervisor) == set(hazards.values())


def test_outsider_sees_only_their_own_school_unit(services, world, hazards):
    assert _visible(services, world.users.outsider) == {hazards["other"]}


def test_reporter_keeps_seeing_a_hazard_moved_to_another_unit(services, world, hazards, do):
    do(hazards["college"], "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "王", "deadline": "2026-11-09",
        "responsible_unit_id": world.orgs.logistics})
    assert _visible(services, world.users.staff2) == set()
    assert _visible(services, world.users.staff) == {hazards["college"]}
    assert _visible(services, world.users.logistics_staff) == {hazards["college"], hazards["logistics"]}


def test_grid_officer_sees_the_hazards_of_the_grids_unit(services, world, hazards, clock):
    with services.uow() as uow:
        s = uow.session
        grid = accounts.add_org(s, "grid", "机电楼网格", "s-jd-g1", s.get(OrgNode, world.orgs.college))
        officer = accounts.add_user(s, "grid1", "网格员", "pw", grid, clock.now(), roles=[("grid_officer", grid)]).id
        uow.commit()
    assert _visible(services, officer) == {hazards["college"]}


def test_can_view_hazard_and_task_follow_the_same_scope(services, world, hazards, task_of):
    task_id = task_of(hazards["college"], "register_hazard").id
    with services.uow() as uow:
        s = uow.session
        staff, outsider = s.get(User, world.users.staff), s.get(User, world.users.outsider)
        own, foreign = s.get(Hazard, hazards["college"]), s.get(Hazard, hazards["other"])
        assert visibility.can_view_hazard(s, staff, own) and not visibility.can_view_hazard(s, staff, foreign)
        assert visibility.can_view_hazard(s, outsider, foreign) and not visibility.can_view_hazard(s, outsider, own)
        task = s.get(HumanTask, task_id)
        assert visibility.can_view_task(s, staff, task)
        assert not visibility.can_view_task(s, outsider, task)
        with pytest.raises(NotFound, match="does not exist"):
            visibility.get_visible_task(s, outsider, task.id)
        assert org_scope.can_view_org(s, staff, world.orgs.college)
        assert not org_scope.can_view_org(s, staff, world.orgs.school)


def test_hazard_list_filters_paginates_and_costs_the_same_queries_for_any_page_size(services, world, report_hazard):
    for i in range(7):
        report_hazard(world.users.staff, location=f"教室{i}", category="消防" if i % 2 else "安防/治安")
    with services.uow() as uow:
        s = uow.session
        security = s.get(User, world.users.security)
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(s.get_bind(), "before_cursor_execute", listener)
        try:
            page = visibility.list_hazards(s, security, {"category": "消防"}, page=1, per_page=2)
            rows = [(h.location, h.unit.name) for h in page.items]
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", listener)
        assert page.total == 3 and len(rows) == 2
        assert all(name == "机电工程学院" for _, name in rows)
        assert len(statements) <= 3  # scope paths, count, page (units joined in the same query)
        second = visibility.list_hazards(s, security, {"category": "消防"}, page=2, per_page=2)
        assert len(second.items) == 1
        today = visibility.list_hazards(s, security, {"reported_from": date(2026, 11, 2),
                                                      "reported_to": date(2026, 11, 2)})
        assert today.total == 7
        assert visibility.list_hazards(s, security, {"reported_from": date(2026, 11, 3)}).total == 0
        with pytest.raises(ValueError, match="unknown filter"):
            visibility.list_hazards(s, security, {"colour": "red"})


def test_task_list_all_view_is_scoped_and_inbox_views_follow_candidates(services, world, hazards, clock):
    with services.uow() as uow:
        s = uow.session
        supervisor, staff = s.get(User, world.users.supervisor), s.get(User, world.users.staff)
        everything = visibility.list_tasks(s, supervisor, clock.now(), view="all")
        assert {t.hazard_id for t in everything.items} == set(hazards.values())
        mine = visibility.list_tasks(s, staff, clock.now(), view="all")
        assert {t.hazard_id for t in mine.items} == {hazards["college"]}
        security = s.get(User, world.users.security)
        groups = visibility.list_tasks(s, security, clock.now(), view="groups", filters={"category": "消防"})
        assert [t.hazard_id for t in groups.items] == [hazards["logistics"]]
