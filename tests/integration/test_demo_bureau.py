"""The demo is a bureau: province → city → two county bureaus → three schools, every role at every level."""
from __future__ import annotations

from sqlalchemy import func, select

from engine import demo
from engine.demo import DEMO_PASSWORD, MORE_USERS, USERS, build_demo
from engine.org import accounts
from engine.org.models import OrgNode, RoleGrant, User
from engine.process.models import HumanTask, ProcessInstance
from engine.process.tasklist import inbox_clause
from engine.rectification.models import Hazard
from engine.schedules.models import InspectionSchedule
from engine.rectification.visibility import list_hazards

SCHOOL_ROLES = {"security_office", "department_staff", "department_head", "leader", "admin"}
BUREAU_ROLES = {"supervisor", "security_office", "leader", "admin"}
TOP_ROLES = {"supervisor", "leader", "admin"}


def _node(s, code: str) -> OrgNode:
    return s.scalars(select(OrgNode).where(OrgNode.code == code)).one()


def _roles_at_or_below(s, node: OrgNode) -> set[str]:
    """Roles granted at the node itself or at its units (a school's staff and heads hold theirs at a unit)."""
    return set(s.scalars(select(RoleGrant.role).join(OrgNode, OrgNode.id == RoleGrant.org_id)
                         .where(OrgNode.path.startswith(node.path))))


def test_the_demo_is_a_bureau_with_every_role_at_every_level_and_logins_by_employee_no(services):
    logins = build_demo(services)
    assert [u for u, _, _ in logins[:len(USERS)]] == [u for u, *_ in USERS], "the first school's logins come first"
    with services.uow() as uow:
        s = uow.session
        province = s.scalars(select(OrgNode).where(OrgNode.parent_id.is_(None))).one()
        assert (province.kind, province.name) == ("province", "甘肃省教育厅")
        city = s.scalars(select(OrgNode).where(OrgNode.parent_id == province.id)).one()
        assert (city.kind, city.name) == ("city", "兰州市教育局")
        bureaus = list(s.scalars(select(OrgNode).where(OrgNode.parent_id == city.id).order_by(OrgNode.code)))
        assert [(b.kind, b.code) for b in bureaus] == [("county", "gs-lz-cg"), ("county", "gs-lz-qlh")]
        schools = list(s.scalars(select(OrgNode).where(OrgNode.kind == "school")))
        assert len(schools) >= 3 and {sc.parent_id for sc in schools} == {b.id for b in bureaus}
        assert _node(s, "gs-lz-cg-xdzy").name == "兰州现代职业学院"

        # Seed 001's offices at the first school, seed 002's 附属单位 at the second; every unit classified.
        xdzy = _node(s, "gs-lz-cg-xdzy")
        offices = set(s.scalars(select(OrgNode.name).where(OrgNode.parent_id == xdzy.id,
                                                            OrgNode.unit_type == "office")))
        assert {"保卫处", "后勤管理处", "学生处", "教务处", "科技开发处", "资产管理处", "团委", "心理健康中心",
                "总务基建处", "学院警务室"} <= offices
        hh = _node(s, "gs-lz-qlh-hhzy")
        types = dict(s.execute(select(OrgNode.name, OrgNode.unit_type).where(OrgNode.parent_id == hh.id)).all())
        assert types["附属医院"] == types["附属高级技工学校"] == "affiliate"
        assert {"college", "office", "affiliate"} <= set(types.values())

        for school in schools:
            assert SCHOOL_ROLES <= _roles_at_or_below(s, school), school.name
        for node in bureaus:
            held = set(s.scalars(select(RoleGrant.role).where(RoleGrant.org_id == node.id)))
            assert BUREAU_ROLES <= held, node.name
        for node in (province, city):
            held = set(s.scalars(select(RoleGrant.role).where(RoleGrant.org_id == node.id)))
            assert TOP_ROLES <= held, node.name

        # Every user has a distinct 工号 and phone, and signs in by either with the demo password.
        users = list(s.scalars(select(User)))
        assert len(users) == len(USERS) + len(MORE_USERS)
        assert len({u.employee_no for u in users}) == len({u.phone for u in users}) == len(users)
        assert None not in {u.employee_no for u in users}
        now = services.clock.now()
        for login in ("XD001", "HH001", "ZX001", "QLH001", "LZ001", "GS001", "13909310001"):
            assert accounts.sign_in(s, login, DEMO_PASSWORD, now).user is not None, login
        by_no = accounts.sign_in(s, "HH001", DEMO_PASSWORD, now).user
        assert by_no.username == "sec_hh"
        assert accounts.sign_in(s, "HH001", "wrong-password", now).user is None
        # The event safety plan 机电工程学院 filed waits for its own head's 部门审核, then goes to the school's 保卫处.
        head_jd = s.scalars(select(User).where(User.username == "head_jd")).one()
        [review] = s.scalars(select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                             .where(ProcessInstance.definition.has(key="event_safety_plan"))).all()
        assert (review.bpmn_id, review.candidate_role, review.candidate_org_id) == (
            "department_review", "department_head", head_jd.org_id)
        assert review.id in set(s.scalars(select(HumanTask.id).where(inbox_clause(head_jd, "groups", now))))
        assert _node(s, "gs-lz-cg-xdzy-jidian").headcount == 320
        drills = s.scalars(select(InspectionSchedule).where(InspectionSchedule.source == "seed004:semester_drills")).one()
        assert (drills.org_id, drills.kind) == (xdzy.id, "drill")
        counts = (s.scalar(select(func.count()).select_from(User)), s.scalar(select(func.count()).select_from(OrgNode)),
                  s.scalar(select(func.count()).select_from(Hazard)))

    assert build_demo(services) == logins
    with services.uow() as uow:
        s = uow.session
        assert counts == (s.scalar(select(func.count()).select_from(User)),
                          s.scalar(select(func.count()).select_from(OrgNode)),
                          s.scalar(select(func.count()).select_from(Hazard))), "a second run changes nothing"


def test_a_bureau_sees_its_own_schools_hazards_and_not_its_siblings(services):
    build_demo(services)
    with services.uow() as uow:
        s = uow.session

        def schools_seen(username: str) -> set[str]:
            user = accounts.find_user(s, username)
            page = list_hazards(s, user, per_page=100)
            return {accounts.nearest(s, h.unit, "school").code for h in page.items}

        assert schools_seen("bureau_qlh") == {"gs-lz-qlh-hhzy", "gs-lz-qlh-qlhzx"}
        assert schools_seen("bureau") == {"gs-lz-cg-xdzy"}
        assert schools_seen("sec_hh") == {"gs-lz-qlh-hhzy"}
        assert schools_seen("city") == schools_seen("province") == {
            "gs-lz-cg-xdzy", "gs-lz-qlh-hhzy", "gs-lz-qlh-qlhzx"}


def test_a_demo_built_before_the_bureau_gets_the_rest_on_the_next_run(services, monkeypatch):
    with monkeypatch.context() as m:  # the one-school demo of before: no other bureau, no 工号
        m.setattr(demo, "_build_bureau", lambda *_: None)
        build_demo(services)
    with services.uow() as uow:
        for user in uow.session.scalars(select(User)):
            user.employee_no = user.phone = None
        uow.commit()
    build_demo(services)
    with services.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(User)) == len(USERS) + len(MORE_USERS)
        assert _node(s, "gs-lz-qlh").parent_id == _node(s, "gs-lz").id
        assert accounts.find_user(s, "security").employee_no == "XD001"
