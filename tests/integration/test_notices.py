"""Rectification notices (整改通知书): issued by the diagram's issueNotice property or on demand, numbered per
school and China-time year without gaps or duplicates, each with an event and a message to the unit's head."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from lxml import etree
from sqlalchemy import func, select

from engine.infra.errors import InvalidDiagram, NotAllowed, NotFound, WorkflowFailed
from engine.org import accounts
from engine.process.delivery import Message
from engine.process.models import Event, OutboxMessage
from engine.rectification import notices
from engine.rectification.models import RectificationNotice
from notifications.templates import render
from tests.admins import add_admin

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"


def _register(world, unit=None, **overrides):
    return {"grade": "general", "responsible_unit_id": unit or world.orgs.college, "responsible_person": "刘院长",
            "deadline": "2026-11-20", "onsite_fix": False, **overrides}


def _notice(services, hazard_id):
    with services.uow() as uow:
        return notices.notice_of(uow.session, hazard_id)


def _all_notices(services):
    with services.uow() as uow:
        return list(uow.session.scalars(select(RectificationNotice).order_by(RectificationNotice.id)))


@pytest.fixture
def other_security(services, world):
    """A security officer of the other school (world only has one for the first)."""
    with services.uow() as uow:
        s = uow.session
        from engine.org.models import OrgNode

        school = s.get(OrgNode, world.orgs.other_school)
        unit = s.get(OrgNode, world.orgs.foreign_unit)
        user_id = accounts.add_user(s, "other_security", "另一保卫", "pw", unit, services.clock.now(),
                                    roles=[("security_office", school)]).id
        uow.commit()
    return user_id


def test_registering_for_deadline_rectification_issues_a_notice_with_event_and_message(
        services, world, report_hazard, do):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, _register(world))
    notice = _notice(services, hazard.id)
    assert notice is not None
    assert (notice.year, notice.seq, notice.number) == (2026, 1, "某职业学院〔2026〕整改第 001 号")
    assert (notice.school_id, notice.unit_id, notice.issued_by_id) == (
        world.orgs.school, world.orgs.college, world.users.security)
    assert notice.deadline.isoformat() == "2026-11-20" and notice.issued_at == services.clock.now()
    content = notice.content
    assert (content["location"], content["problem"], content["category"], content["grade"]) == (
        "实训楼A102", "车床防护罩缺失", "实训实验室", "general")
    assert content["unit"] == "机电工程学院" and content["issuer"] == "保卫处" and content["found_on"] == "2026-11-02"
    assert "2026年11月20日前整改完毕" in content["requirements"]
    with services.uow() as uow:
        s = uow.session
        event = s.scalars(select(Event).where(Event.hazard_id == hazard.id, Event.kind == "NoticeIssued")).one()
        assert event.data["number"] == notice.number and event.data["trigger"] == "register_hazard"
        assert event.actor_id == world.users.security and event.task_id is not None
        message = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice_issued")).one()
        # The college has no named head, so the message goes to whoever is its department head.
        assert (message.recipient_role, message.recipient_org_id) == ("department_head", world.orgs.college)
        assert message.payload["hazard_id"] == hazard.id and message.payload["number"] == notice.number
        assert message.payload["due_at"].startswith("2026-11-20T18:00:00+08:00")
    rendered = render(Message(id=message.id, channel="email", kind=message.kind, payload=message.payload))
    assert rendered.subject == "【隐患整改】收到隐患整改通知书：某职业学院〔2026〕整改第 001 号"
    assert "办理期限：2026-11-20 18:00" in rendered.text and "None" not in rendered.text


def test_the_message_goes_to_the_units_named_head_when_it_has_one(services, world, report_hazard, do):
    with services.uow() as uow:
        from engine.org.models import OrgNode

        uow.session.get(OrgNode, world.orgs.college).head_user_id = world.users.head
        uow.commit()
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, _register(world, grade="major", onsite_fix=True))
    with services.uow() as uow:
        message = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice_issued")).one()
        assert (message.recipient_id, message.recipient_role) == (world.users.head, None)


def test_numbers_run_per_school_and_restart_in_a_new_china_year(services, world, report_hazard, do, clock,
                                                                  other_security):
    first, second = report_hazard(), report_hazard(location="食堂后厨")
    do(first.id, "register_hazard", world.users.security, _register(world))
    do(second.id, "register_hazard", world.users.security, _register(world, grade="major"))
    foreign = report_hazard(user=world.users.outsider)
    do(foreign.id, "register_hazard", other_security, _register(world, unit=world.orgs.foreign_unit))
    # 00:30 on 1 January 2027 in China is still 2026 in UTC: the year is China's.
    clock.set(datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc))
    new_year = report_hazard(location="图书馆")
    do(new_year.id, "register_hazard", world.users.security, _register(world, deadline="2027-01-15"))
    got = {h.id: _notice(services, h.id) for h in (first, second, foreign, new_year)}
    assert [(n.year, n.seq) for n in got.values()] == [(2026, 1), (2026, 2), (2026, 1), (2027, 1)]
    assert got[second.id].number == "某职业学院〔2026〕整改第 002 号"
    assert got[foreign.id].number == "另一学院〔2026〕整改第 001 号"
    assert got[new_year.id].number == "某职业学院〔2027〕整改第 001 号"


def test_a_general_hazard_fixed_on_site_gets_none_but_can_be_issued_one_on_demand(
        services, world, report_hazard, do):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, _register(world, onsite_fix=True))
    assert _notice(services, hazard.id) is None
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Event).where(Event.kind == "NoticeIssued")) == 0
    notice = notices.issue_notice(services, hazard.id, world.users.security2, requirements="立即加装防护罩")
    assert (notice.seq, notice.issued_by_id, notice.content["requirements"]) == (1, world.users.security2,
                                                                                  "立即加装防护罩")
    with services.uow() as uow:
        event = uow.session.scalars(select(Event).where(Event.kind == "NoticeIssued")).one()
        assert event.data["trigger"] == "on_demand" and event.hazard_id == hazard.id
    with pytest.raises(notices.NoticeAlreadyIssued, match="already has"):
        notices.issue_notice(services, hazard.id, world.users.security)
    later = report_hazard(location="实训楼B201")
    do(later.id, "register_hazard", world.users.security, _register(world))
    assert _notice(services, later.id).seq == 2  # on-demand and diagram notices share one sequence


def test_on_demand_issuing_is_refused_to_others_out_of_scope_and_before_registration(
        services, world, report_hazard, do, other_security):
    hazard = report_hazard()
    with pytest.raises(notices.NoticeNotIssuable, match="not registered"):
        notices.issue_notice(services, hazard.id, world.users.security)
    do(hazard.id, "register_hazard", world.users.security, _register(world, onsite_fix=True))
    with pytest.raises(NotAllowed, match="security office"):
        notices.issue_notice(services, hazard.id, world.users.head)
    with pytest.raises(NotFound):
        notices.issue_notice(services, hazard.id, other_security)
    assert _all_notices(services) == []
    with services.uow() as uow:  # a refused request takes no number
        from engine.rectification.models import NoticeCounter

        assert uow.session.scalar(select(func.count()).select_from(NoticeCounter)) == 0


def test_the_grading_forms_requirements_are_written_into_the_notice(services, world, report_hazard, do):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       _register(world, notice_requirements="停止使用该车床，三日内更换防护罩"))
    assert _notice(services, hazard.id).content["requirements"] == "停止使用该车床，三日内更换防护罩"


def test_concurrent_issuing_gives_consecutive_numbers_without_duplicates(services, world, report_hazard, do):
    hazards = []
    for n in range(8):
        hazard = report_hazard(location=f"实训楼{n}")
        do(hazard.id, "register_hazard", world.users.security, _register(world, onsite_fix=True))
        hazards.append(hazard.id)
    barrier = threading.Barrier(len(hazards))
    errors: list[Exception] = []

    def issue(hazard_id, user_id):
        barrier.wait()
        try:
            notices.issue_notice(services, hazard_id, user_id)
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    users = (world.users.security, world.users.security2)
    threads = [threading.Thread(target=issue, args=(h, users[i % 2])) for i, h in enumerate(hazards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(n.seq for n in _all_notices(services)) == list(range(1, 9))


# -- the diagram decides --------------------------------------------------------------------------
def _with_issue_notice(source: bytes, expression: str | None) -> bytes:
    """The shipped diagram with register_hazard's issueNotice set to `expression` (None: removed)."""
    root = etree.fromstring(source)
    task = next(t for t in root.iter(f"{BPMN}userTask") if t.get("id") == "register_hazard")
    props = task.find(f"{BPMN}extensionElements/{SPIFF}properties")
    for prop in props.findall(f"{SPIFF}property"):
        if prop.get("name") == "issueNotice":
            props.remove(prop)
    if expression is not None:
        etree.SubElement(props, f"{SPIFF}property", name="issueNotice", value=expression)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_changing_the_diagram_property_changes_which_hazards_get_a_notice(services, world, report_hazard, do,
                                                                           bpmn_dir):
    shipped = (bpmn_dir / "hazard_rectification.bpmn").read_bytes()
    admin = add_admin(services, world)
    services.deploy_definition(_with_issue_notice(shipped, "source != 'self_check'"), "h.bpmn", admin, replace=True)
    self_check, inspected = report_hazard(), report_hazard(source="joint_inspection")
    do(self_check.id, "register_hazard", world.users.security, _register(world))
    do(inspected.id, "register_hazard", world.users.security, _register(world, onsite_fix=True))
    assert _notice(services, self_check.id) is None  # the shipped diagram would have issued this one
    assert _notice(services, inspected.id).seq == 1  # and not this one
    services.deploy_definition(_with_issue_notice(shipped, None), "h.bpmn", admin, replace=True)
    major = report_hazard()
    do(major.id, "register_hazard", world.users.security, _register(world, grade="major"))
    assert _notice(services, major.id) is None


def test_an_unsafe_issue_notice_expression_is_refused_at_deploy(services, world, bpmn_dir):
    shipped = (bpmn_dir / "hazard_rectification.bpmn").read_bytes()
    with pytest.raises(InvalidDiagram, match="issueNotice"):
        services.deploy_definition(_with_issue_notice(shipped, "__import__('os')"), "h.bpmn", world.users.designer)


def test_an_expression_naming_missing_data_fails_the_step_and_writes_nothing(services, world, report_hazard, do,
                                                                             bpmn_dir, task_of):
    shipped = (bpmn_dir / "hazard_rectification.bpmn").read_bytes()
    services.deploy_definition(_with_issue_notice(shipped, "no_such_field == 1"), "h.bpmn", add_admin(services, world),
                               replace=True)
    hazard = report_hazard()
    with pytest.raises(WorkflowFailed, match="issueNotice"):
        do(hazard.id, "register_hazard", world.users.security, _register(world))
    assert task_of(hazard.id, "register_hazard").state == "ready"
    assert _all_notices(services) == []
