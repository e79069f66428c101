"""Protected processes, replacing live ones, deployment records, and moving running instances to a new version."""
from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import select

from engine.infra.errors import InvalidDiagram, NotAllowed, NotFound
from engine.org import accounts
from engine.process.diagrams import parse_diagram
from engine.process.migration import migrate
from engine.process.models import Event, HumanTask, ProcessDefinition, ProcessInstance
from engine.process.replacing import check_deploy
from tests.admins import add_admin

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"

# A process nobody shipped: two approvals by the security office, then the end. `second` False leaves the second
# approval out (v2 of the migration tests), `first_name` renames the first.
SIMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_leave"
    targetNamespace="http://example.org/leave">
  <bpmn:process id="leave_request" name="请假" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_security" name="security_office">
        <bpmn:flowNodeRef>first</bpmn:flowNodeRef>{second_ref}
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="{first_name}"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>{second}
    <bpmn:endEvent id="end"><bpmn:incoming>{end_in}</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first" />
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="{after_first}" />{second_flow}
  </bpmn:process>
</bpmn:definitions>
"""


def simple(second: bool = True, first_name: str = "初审") -> bytes:
    return SIMPLE.format(
        first_name=first_name,
        second_ref="\n        <bpmn:flowNodeRef>second</bpmn:flowNodeRef>" if second else "",
        second=('\n    <bpmn:userTask id="second" name="复审"><bpmn:incoming>f2</bpmn:incoming>'
                '<bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>') if second else "",
        end_in="f3" if second else "f2", after_first="second" if second else "end",
        second_flow='\n    <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="end" />' if second else "",
    ).encode("utf-8")


def _edit(source: bytes, edit) -> bytes:
    root = etree.fromstring(source)
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _latest(services, key):
    with services.uow() as uow:
        return services.latest_definition(uow.session, key)


# -- contracts ----------------------------------------------------------------------------------------------
def test_a_version_that_breaks_the_subjects_contract_is_refused_naming_what_is_missing(services, world, bpmn_dir):
    def break_it(root):
        for script in root.iter(f"{BPMN}script"):
            if script.text == "closed = True":
                script.text = "done = True"  # the ledger would never see the hazard closed
        for start in root.iter(f"{BPMN}startEvent"):
            if start.get("id") == "hazard_reopened":  # a look-back could no longer reopen a hazard
                start.remove(start.find(f"{BPMN}messageEventDefinition"))

    source = _edit((bpmn_dir / "hazard_rectification.bpmn").read_bytes(), break_it)
    admin = add_admin(services, world)
    with pytest.raises(InvalidDiagram) as refused:
        services.deploy_definition(source, "hazard_rectification.bpmn", admin, replace=True)
    found = {(e["code"], e["message"].split(";")[0]) for e in refused.value.errors}
    assert ("contract-data-key", "no form field or script writes the data key 'closed'") in found
    assert ("contract-message-start", "no start event starts on the message 'hazard_reopened'") in found
    assert all("relies on it" in e["message"] and e["fix"] for e in refused.value.errors)
    assert _latest(services, "hazard_rectification").version == 1  # the live version is unchanged


def test_the_self_check_keeps_its_completion_checks_and_its_messages(services, world, bpmn_dir):
    def break_it(root):
        for task in root.iter(f"{BPMN}userTask"):
            if task.get("id") == "sign_self_check":
                props = task.find(f"{BPMN}extensionElements/{SPIFF}properties")
                for prop in props.findall(f"{SPIFF}property"):
                    if prop.get("name") == "completionCheck":
                        props.remove(prop)
        for end in root.iter(f"{BPMN}endEvent"):
            if end.get("id") == "self_check_returned":
                end.remove(end.find(f"{BPMN}messageEventDefinition"))

    source = _edit((bpmn_dir / "unit_self_check.bpmn").read_bytes(), break_it)
    with pytest.raises(InvalidDiagram) as refused:
        services.deploy_definition(source, "unit_self_check.bpmn", add_admin(services, world), replace=True)
    messages = [e["message"] for e in refused.value.errors]
    assert any(m.startswith("user task 'sign_self_check' lacks the property completionCheck='sign_self_check'")
               for m in messages)
    assert any(m.startswith("nothing throws the message 'self_check_returned'") for m in messages)
    assert all("campaigns" in m for m in messages)


# The shipped processes subject code drives; the others (facility_repair, event_safety_plan) are plain BPMN with no
# code behind them.
SUBJECT_OWNED = {"hazard_rectification", "campaign", "unit_self_check", "patrol", "annual_assessment", "emergency_drill"}


def test_every_shipped_diagram_keeps_its_own_contract(services, bpmn_dir):
    shipped = set()
    for path in sorted(bpmn_dir.glob("*.bpmn")):
        parsed = parse_diagram(path.read_bytes(), bpmn_dir, path.name)
        shipped.add(parsed.process_id)
        has_contract = bool(services.hooks.contracts_for(parsed.process_id))
        assert has_contract == (parsed.process_id in SUBJECT_OWNED), parsed.process_id
        with services.uow() as uow:
            assert check_deploy(uow.session, services.hooks, parsed, None, None, False,
                                services.shipped_processes()) == []
    assert SUBJECT_OWNED < shipped, "every subject-owned process is shipped, with at least one general one beside"


# -- replacing ----------------------------------------------------------------------------------------------
def test_a_process_with_running_instances_is_replaced_only_by_an_admin_with_replace(services, world):
    assert services.deploy_definition(simple(), "leave.bpmn", world.users.designer).version == 1
    # Nothing runs and nothing relies on it: the designer may change it freely.
    v2 = services.deploy_definition(simple(first_name="部门初审"), "leave.bpmn", world.users.designer)
    assert v2.version == 2 and not v2.replaced
    assert v2.change_summary == "against v1: renamed: first 初审 → 部门初审"
    services.start_process("leave_request", world.users.designer)
    with pytest.raises(InvalidDiagram, match="1 instance\\(s\\) are running.*needs an explicit replace"):
        services.deploy_definition(simple(second=False), "leave.bpmn", world.users.designer)
    with pytest.raises(InvalidDiagram, match="only an administrator may replace"):
        services.deploy_definition(simple(second=False), "leave.bpmn", world.users.designer, replace=True)
    v3 = services.deploy_definition(simple(second=False), "leave.bpmn", add_admin(services, world), replace=True)
    assert v3.version == 3 and v3.replaced
    assert v3.change_summary == ("against v2: removed: second (复审); renamed: first 部门初审 → 初审; "
                                "4 other element(s) added, removed or changed")
    with services.uow() as uow:
        event = uow.session.scalars(select(Event).where(Event.kind == "DefinitionDeployed")
                                    .order_by(Event.id.desc())).first()
        assert event.data["version"] == 3 and event.data["replace"] is True
        assert event.data["summary"] == v3.change_summary and event.actor_id == v3.deployed_by_id


def test_a_first_deployment_under_a_shipped_processs_id_needs_an_admin_with_replace(services, world, bpmn_dir):
    shipped = (bpmn_dir / "patrol.bpmn").read_bytes()
    other = shipped.replace('name="巡查完成"'.encode(), 'name="巡查结束"'.encode())
    parsed = parse_diagram(other, bpmn_dir, "patrol.bpmn")
    admin = add_admin(services, world)
    with services.uow() as uow:
        s = uow.session
        as_designer = check_deploy(s, services.hooks, parsed, None, accounts.get_user(s, world.users.designer),
                                   True, services.shipped_processes(), "patrol.bpmn")
        as_admin = check_deploy(s, services.hooks, parsed, None, accounts.get_user(s, admin),
                                True, services.shipped_processes(), "patrol.bpmn")
        the_shipped_file = check_deploy(s, services.hooks, parse_diagram(shipped, bpmn_dir, "patrol.bpmn"), None,
                                        None, False, services.shipped_processes())
    assert [f.code for f in as_designer] == ["shipped-key"]
    assert "'patrol' is a shipped process's id (the schedules code relies on it)" in as_designer[0].message
    assert as_admin == [] and the_shipped_file == []


# -- migration ----------------------------------------------------------------------------------------------
def _open_task(services, instance_id):
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                           HumanTask.state == "ready")).one()


def test_migration_moves_an_instance_at_an_unchanged_task_and_reports_one_at_a_removed_task(services, world):
    services.deploy_definition(simple(), "leave.bpmn", world.users.designer)
    at_first = services.start_process("leave_request", world.users.designer, business_key="leave:1")
    at_second = services.start_process("leave_request", world.users.designer, business_key="leave:2")
    services.complete_task(_open_task(services, at_second.id).id, world.users.security, {})
    admin = add_admin(services, world)
    v2 = services.deploy_definition(simple(second=False), "leave.bpmn", admin, replace=True)

    with pytest.raises(NotAllowed, match="administrator"):
        migrate(services, v2.id, world.users.designer, dry_run=True)
    report = migrate(services, v2.id, admin, dry_run=True)
    assert (report.key, report.from_version, report.to_version, report.dry_run) == ("leave_request", 1, 2, True)
    by_id = {m.instance_id: m for m in report.instances}
    assert by_id[at_first.id].safe and by_id[at_first.id].reasons == [] and not by_id[at_first.id].moved
    assert not by_id[at_second.id].safe
    assert by_id[at_second.id].reasons == ["it waits at 'second' (复审), which v2 no longer has"]
    with services.uow() as uow:  # a dry run moves nothing
        assert {i.definition_id for i in uow.session.scalars(select(ProcessInstance))} == {v2.id - 1}

    task_before = _open_task(services, at_first.id)
    moved = migrate(services, v2.id, admin, dry_run=False)
    assert [(m.instance_id, m.moved) for m in moved.instances] == [(at_first.id, True), (at_second.id, False)]
    with services.uow() as uow:
        s = uow.session
        assert s.get(ProcessInstance, at_first.id).definition_id == v2.id
        assert s.get(ProcessInstance, at_second.id).definition_id == v2.id - 1  # stays and finishes on v1
        events = s.scalars(select(Event).where(Event.kind == "InstanceMigrated")).all()
        assert [(e.instance_id, e.actor_id, e.data["from_version"], e.data["to_version"]) for e in events] == [
            (at_first.id, admin, 1, 2)]
    task_after = _open_task(services, at_first.id)  # the same inbox row, still open, on the new version
    assert (task_after.id, task_after.spiff_task_id, task_after.bpmn_id) == (
        task_before.id, task_before.spiff_task_id, "first")
    # On v2 the first approval is the last step; on v1 the second one still runs.
    services.complete_task(task_after.id, world.users.security, {})
    services.complete_task(_open_task(services, at_second.id).id, world.users.security, {})
    with services.uow() as uow:
        assert {i.status for i in uow.session.scalars(select(ProcessInstance))} == {"completed"}
    assert migrate(services, v2.id, admin, dry_run=True).instances == []  # nothing left running on v1


def test_migration_needs_an_earlier_version(services, world):
    definition = services.deploy_definition(simple(), "leave.bpmn", world.users.designer)
    with pytest.raises(NotFound, match="no version 0 before v1"):
        migrate(services, definition.id, None)
    with services.uow() as uow:
        assert uow.session.get(ProcessDefinition, definition.id).change_summary.startswith("first version: 2 user")


TIMED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_timed"
    targetNamespace="http://example.org/timed">
  <bpmn:process id="timed_review" name="限时审核" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_security" name="security_office"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="审核"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="late" name="超时" cancelActivity="false" attachedToRef="review">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="late_timer"><bpmn:timeDuration>"PT48H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="late_noted"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>{extra}
    <bpmn:endEvent id="end"><bpmn:incoming>{end_in}</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="{after}" />
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="late_noted" />
  </bpmn:process>
</bpmn:definitions>
"""


def timed(with_script: bool) -> bytes:
    extra = ('\n    <bpmn:scriptTask id="stamp" name="盖章"><bpmn:incoming>f2</bpmn:incoming>'
             '<bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>stamped = True</bpmn:script></bpmn:scriptTask>'
             '\n    <bpmn:sequenceFlow id="f4" sourceRef="stamp" targetRef="end" />') if with_script else ""
    return TIMED.format(extra=extra, end_in="f4" if with_script else "f2",
                        after="stamp" if with_script else "end").encode("utf-8")


def test_a_moved_instance_keeps_its_waiting_timers_due_time(services, world, clock):
    services.deploy_definition(timed(False), "timed.bpmn", world.users.designer)
    instance = services.start_process("timed_review", world.users.designer)
    with services.uow() as uow:
        due = uow.session.get(ProcessInstance, instance.id).next_timer_at
    assert due is not None
    clock.advance(hours=5)
    admin = add_admin(services, world)
    v2 = services.deploy_definition(timed(True), "timed.bpmn", admin, replace=True)
    assert v2.change_summary == "against v1: 4 other element(s) added, removed or changed"
    assert [m.moved for m in migrate(services, v2.id, admin, dry_run=False).instances] == [True]
    with services.uow() as uow:
        moved = uow.session.get(ProcessInstance, instance.id)
        assert (moved.definition_id, moved.next_timer_at) == (v2.id, due)  # not restarted at the migration
    services.complete_task(_open_task(services, instance.id).id, world.users.security, {})
    with services.uow() as uow:
        assert uow.session.get(ProcessInstance, instance.id).status == "completed"
