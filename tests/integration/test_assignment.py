"""Assignment foreign diagrams use: Camunda's assignee, candidate users/groups, formData, due and follow-up dates;
SpiffArena lanes mapped to roles at deploy; lane-less tasks to the starter; tasks inside subprocesses keep their
properties; a task nobody could do is refused at deploy, naming it."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import delete, select

from engine.infra.errors import (
    InvalidDiagram,
    InvalidFormData,
    NotAllowed,
    TaskAlreadyClaimed,
)
from engine.org import accounts
from engine.org.models import RoleGrant, User
from engine.process.assignment import user_task_meta
from engine.process.diagrams import parse_xml_safely
from engine.process.instructions import instructions_for
from engine.process.models import HumanTask, OutboxMessage, ProcessInstance
from engine.process.tasklist import inbox_clause
from tests.conftest import T0

CAMUNDA = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_invoice" targetNamespace="http://example.org/invoice">
  <bpmn:process id="camunda_invoice" name="Invoice" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="approve" name="Approve invoice" camunda:assignee="${approver}">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="amount" label="Amount" type="long">
            <camunda:validation><camunda:constraint name="required" /><camunda:constraint name="min" config="1" />
            </camunda:validation>
          </camunda:formField>
          <camunda:formField id="category" label="Category" type="enum" defaultValue="travel">
            <camunda:value id="travel" name="Travel" /><camunda:value id="misc" name="Other" />
          </camunda:formField>
          <camunda:formField id="approved" label="Approved?" type="boolean">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="ok" name="Approved?"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>yes</bpmn:outgoing><bpmn:outgoing>no</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve" />
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="ok" />
    <bpmn:sequenceFlow id="yes" sourceRef="ok" targetRef="book">
      <bpmn:conditionExpression>${approved &amp;&amp; amount &gt; 100}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="no" sourceRef="ok" targetRef="end">
      <bpmn:conditionExpression>#{!approved || amount le 100}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:userTask id="book" name="Book invoice" camunda:candidateGroups="accounting">
      <bpmn:incoming>yes</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="book" targetRef="archive" />
    <bpmn:userTask id="archive" name="Archive invoice" camunda:candidateUsers="staff, staff2" camunda:dueDate="P2D"
        camunda:followUpDate="P1D" camunda:priority="${prio}">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="archive" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>no</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

# SpiffArena style: lanes named by the business, one with a `role` property, a subprocess inside a lane holding a
# task with its own dueDuration/priority, and instructions for the end user.
SPIFF = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_leave" targetNamespace="http://x">
  <bpmn:collaboration id="collab"><bpmn:participant id="pool" processRef="leave_request" /></bpmn:collaboration>
  <bpmn:process id="leave_request" name="Leave request" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_reviewers" name="Reviewers"><bpmn:flowNodeRef>check</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="lane_office" name="Campus Office">
        <bpmn:extensionElements><spiffworkflow:properties>
          <spiffworkflow:property name="role" value="security_office" /></spiffworkflow:properties>
        </bpmn:extensionElements>
        <bpmn:flowNodeRef>sub</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="lane_boss" name="Management"><bpmn:flowNodeRef>sign</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" name="Check request">
      <bpmn:extensionElements>
        <spiffworkflow:instructionsForEndUser>## Request by {{ requester }}

Reason: **{{ reason }}**</spiffworkflow:instructionsForEndUser>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:subProcess id="sub" name="Office steps"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:startEvent id="sub_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="file" name="File request">
        <bpmn:extensionElements><spiffworkflow:properties>
          <spiffworkflow:property name="dueDuration" value="P3D" />
          <spiffworkflow:property name="priority" value="70" />
        </spiffworkflow:properties></bpmn:extensionElements>
        <bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="sub_end"><bpmn:incoming>s2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="file" />
      <bpmn:sequenceFlow id="s2" sourceRef="file" targetRef="sub_end" />
    </bpmn:subProcess>
    <bpmn:userTask id="sign" name="Sign"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="confirm" name="Confirm"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="sub" />
    <bpmn:sequenceFlow id="f3" sourceRef="sub" targetRef="sign" />
    <bpmn:sequenceFlow id="f4" sourceRef="sign" targetRef="confirm" />
    <bpmn:sequenceFlow id="f5" sourceRef="confirm" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
ROLE_MAP = {"Reviewers": "department_staff", "*": "leader"}

# Only a message starts it, and its one task has no lane or assignment: nobody could ever do it.
ORPHAN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_orphan" targetNamespace="x">
  <bpmn:message id="msg" name="go" />
  <bpmn:process id="orphan" name="Orphan" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:messageEventDefinition id="med" messageRef="msg" /></bpmn:startEvent>
    <bpmn:userTask id="lonely" name="Nobody's task"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="lonely" />
    <bpmn:sequenceFlow id="f2" sourceRef="lonely" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
ASKER = """<bpmn:process id="asker" isExecutable="true">
    <bpmn:startEvent id="a_start"><bpmn:outgoing>a1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateThrowEvent id="ask"><bpmn:incoming>a1</bpmn:incoming><bpmn:outgoing>a2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="ask_med" messageRef="msg" /></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="a_end"><bpmn:incoming>a2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="a1" sourceRef="a_start" targetRef="ask" />
    <bpmn:sequenceFlow id="a2" sourceRef="ask" targetRef="a_end" />
  </bpmn:process>
"""
# Read from the shared folder, never copied into the repository.
FOREIGN = Path(__file__).resolve().parents[2] / ".." / "shared" / "foreign-bpmn"
REACT_EXAMPLE = (FOREIGN / "camunda-bpm-examples" / "usertask" / "task-form-embedded-react" / "src" / "main"
                 / "resources" / "react-example.bpmn")


def inbox(services, user_id: int, view: str) -> list[HumanTask]:
    with services.uow() as uow:
        user = accounts.get_user(uow.session, user_id)
        return list(uow.session.scalars(select(HumanTask).where(inbox_clause(user, view, services.clock.now()))
                                        .order_by(HumanTask.id)))


def open_task(services, instance_id: int, bpmn_id: str) -> HumanTask:
    with services.uow() as uow:
        rows = list(uow.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready")))
    assert len(rows) == 1, f"expected one open {bpmn_id}"
    return rows[0]


def test_a_camunda_diagram_routes_by_assignee_groups_and_candidate_users(services, world):
    u = world.users
    definition = services.deploy_definition(CAMUNDA.encode(), "invoice.bpmn", u.designer,
                                            role_map={"accounting": "security_office@school_id"})
    assert definition.role_map == {"accounting": "security_office@school_id"}
    instance = services.start_process("camunda_invoice", u.designer, {"approver": "head", "prio": 80})

    # camunda:assignee: straight into that user's own inbox, nobody else's.
    approve = open_task(services, instance.id, "approve")
    assert [t.id for t in inbox(services, u.head, "mine")] == [approve.id]
    assert approve.id not in [t.id for t in inbox(services, u.staff, "groups")]
    # formData became a JSON Schema form that validates.
    schema = definition.forms[approve.form]
    assert schema["properties"]["category"]["oneOf"][1] == {"const": "misc", "title": "Other"}
    assert set(schema["required"]) == {"amount", "approved"}
    with pytest.raises(InvalidFormData) as refused:
        services.complete_task(approve.id, u.head, {"amount": 0})
    assert {e["field"] for e in refused.value.errors} >= {"amount", "approved"}
    with pytest.raises(NotAllowed):
        services.complete_task(approve.id, u.staff, {"amount": 500, "approved": True})
    services.complete_task(approve.id, u.head, {"amount": 500, "approved": True})

    # candidateGroups "accounting" → the security office of the starter's school, via the deploy's role map.
    book = open_task(services, instance.id, "book")
    assert (book.candidate_role, book.candidate_org_id, book.assignee_id) == (
        "security_office", world.orgs.school, None)
    assert book.id in [t.id for t in inbox(services, u.security2, "groups")]
    services.complete_task(book.id, u.security, {})

    # candidateUsers: both named users see it until one claims it; due/follow-up/priority from Camunda attributes.
    archive = open_task(services, instance.id, "archive")
    assert (archive.due_at, archive.follow_up_at, archive.priority) == (
        T0 + timedelta(days=2), T0 + timedelta(days=1), 80)
    assert archive.candidate_role is None
    assert archive.id in [t.id for t in inbox(services, u.staff, "groups")]
    assert archive.id in [t.id for t in inbox(services, u.staff2, "groups")]
    assert archive.id not in [t.id for t in inbox(services, u.head, "groups")]
    with services.uow() as uow:
        told = set(uow.session.scalars(select(OutboxMessage.recipient_id).where(
            OutboxMessage.kind == "task_created", OutboxMessage.payload["task_id"].as_integer() == archive.id)))
    assert told == {u.staff, u.staff2}
    services.claim_task(archive.id, u.staff2)
    assert archive.id not in [t.id for t in inbox(services, u.staff, "groups")]
    with pytest.raises(TaskAlreadyClaimed):
        services.complete_task(archive.id, u.staff, {})
    services.complete_task(archive.id, u.staff2, {})
    with services.uow() as uow:
        assert uow.session.get(ProcessInstance, instance.id).status == "completed"


def test_an_assignee_who_is_not_a_user_stops_the_step_with_a_clear_error(services, world):
    services.deploy_definition(CAMUNDA.encode(), "invoice.bpmn", world.users.designer,
                               role_map={"accounting": "security_office"})
    with pytest.raises(Exception, match="no user nobody"):
        services.start_process("camunda_invoice", world.users.designer, {"approver": "nobody", "prio": 1})


def test_a_group_that_is_no_role_is_refused_at_deploy_naming_the_task(services, world):
    with pytest.raises(InvalidDiagram, match="candidate group 'accounting' of task 'book' is not a role") as refused:
        services.deploy_definition(CAMUNDA.encode(), "invoice.bpmn", world.users.designer)
    finding = next(f for f in refused.value.errors if f["code"] == "group-not-a-role")
    line = next(n for n, text in enumerate(CAMUNDA.splitlines(), 1) if '<bpmn:userTask id="book"' in text)
    assert (finding["element_id"], finding["element_name"], finding["line"]) == ("book", "Book invoice", line)


def test_spiffarena_lanes_are_mapped_by_the_role_map_and_lane_properties(services, world):
    u, o = world.users, world.orgs
    with pytest.raises(InvalidDiagram, match="lane 'Reviewers' of task 'check' is not a role"):
        services.deploy_definition(SPIFF.encode(), "leave.bpmn", u.designer)
    definition = services.deploy_definition(SPIFF.encode(), "leave.bpmn", u.designer, role_map=ROLE_MAP)
    meta = definition.task_meta
    assert {k: (m["lane_name"], m["lane"]) for k, m in meta.items()} == {
        "check": ("Reviewers", "department_staff"), "file": ("Campus Office", "security_office"),
        "sign": ("Management", "leader"), "confirm": (None, None)}
    assert meta["confirm"]["starter"] is True

    instance = services.start_process("leave_request", u.designer, {
        "responsible_unit_id": o.college, "requester": "<b>Li</b>", "reason": "<script>alert(1)</script>"})
    check = open_task(services, instance.id, "check")
    assert (check.candidate_role, check.candidate_org_id) == ("department_staff", o.college)
    assert check.id in [t.id for t in inbox(services, u.staff, "groups")]
    with services.uow() as uow:
        html = instructions_for(services.runtime, uow.session.get(HumanTask, check.id))
    assert "<h2>Request by &lt;b&gt;Li&lt;/b&gt;</h2>" in html
    assert "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>" in html and "<script>" not in html
    services.complete_task(check.id, u.staff, {})

    # The task inside the subprocess sits in its subprocess's lane and keeps its own due time and priority.
    filed = open_task(services, instance.id, "file")
    assert (filed.candidate_role, filed.candidate_org_id) == ("security_office", o.school)
    assert (filed.due_at, filed.priority) == (T0 + timedelta(days=3), 70)
    assert filed.next_escalation_at is not None  # its deadline schedule runs
    services.complete_task(filed.id, u.security, {})

    sign = open_task(services, instance.id, "sign")
    assert (sign.candidate_role, sign.candidate_org_id) == ("leader", o.school)
    services.complete_task(sign.id, u.leader, {})

    # No lane, no assignment: the starter's own task.
    confirm = open_task(services, instance.id, "confirm")
    assert (confirm.assignee_id, confirm.candidate_role) == (u.designer, None)
    assert [t.id for t in inbox(services, u.designer, "mine")] == [confirm.id]
    with pytest.raises(NotAllowed, match="no group to give it back to"):
        services.unclaim_task(confirm.id, u.designer)
    services.complete_task(confirm.id, u.designer, {})
    with services.uow() as uow:
        started = uow.session.get(ProcessInstance, instance.id)
        assert (started.status, started.started_by_id) == ("completed", u.designer)


def test_a_task_with_no_possible_candidate_is_refused_at_deploy_naming_it(services, world):
    with pytest.raises(InvalidDiagram, match="'lonely'.*would have no candidate") as refused:
        services.deploy_definition(ORPHAN.encode(), "orphan.bpmn", world.users.designer)
    finding = next(f for f in refused.value.errors if f["code"] == "no-candidate")
    assert (finding["element_id"], finding["element_name"], finding["file"]) == ("lonely", "Nobody's task",
                                                                                 "orphan.bpmn")
    with services.uow() as uow:
        assert services.latest_definition(uow.session, "orphan", required=False) is None
    # With a default role in the role map, that role does it.
    definition = services.deploy_definition(ORPHAN.encode(), "orphan.bpmn", world.users.designer,
                                            role_map={"*": "leader"})
    assert (definition.task_meta["lonely"]["lane"], definition.task_meta["lonely"]["starter"]) == ("leader", False)


def test_a_message_start_thrown_by_another_process_counts_as_started_by_a_person():
    # The answer pool starts on a message the asking pool throws; its lane-less task goes to that person.
    thrown = ORPHAN.replace('<bpmn:process id="orphan"', ASKER + '<bpmn:process id="orphan"')
    root = parse_xml_safely(thrown.encode(), "pools.bpmn")
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(root, "pools.bpmn")
    result = user_task_meta(parser.get_spec("orphan"), parser.get_subprocess_specs("orphan"), {"pools.bpmn": root})
    assert result.findings == []
    assert result.task_meta["lonely"]["starter"] is True


def test_an_untranslatable_juel_condition_is_refused_naming_the_flow(services, world):
    broken = CAMUNDA.replace("${approved &amp;&amp; amount &gt; 100}", '${invoice.prop("x").isOk()}')
    with pytest.raises(InvalidDiagram, match="write it as a Python expression") as refused:
        services.deploy_definition(broken.encode(), "invoice.bpmn", world.users.designer,
                                   role_map={"accounting": "security_office"})
    assert refused.value.errors[0]["element_id"] == "yes"


def test_camundas_react_example_runs_with_its_tasks_in_the_starters_inbox(services, world):
    if not REACT_EXAMPLE.is_file():
        pytest.skip(f"SKIPPED LOUDLY: foreign diagram {REACT_EXAMPLE} is absent")
    u = world.users
    services.deploy_definition(REACT_EXAMPLE.read_bytes(), REACT_EXAMPLE.name, u.designer)
    instance = services.start_process("reactExample", u.designer, {})
    approve = open_task(services, instance.id, "Task_1a9adlo")  # no lane, no assignee: the starter's
    assert approve.assignee_id == u.designer
    services.complete_task(approve.id, u.designer, {"approved": True})  # ${approved} was translated
    with services.uow() as uow:
        rows = list(uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)))
    while True:
        ready = [r for r in rows if r.state == "ready"]
        if not ready:
            break
        for row in ready:
            assert row.assignee_id == u.designer
            services.complete_task(row.id, u.designer, {})
        with services.uow() as uow:
            rows = list(uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)))
    with services.uow() as uow:
        assert uow.session.get(ProcessInstance, instance.id).status == "completed"


def test_a_camunda_start_event_form_data_becomes_the_start_form(services, world):
    """camunda:formData on the none start event is the process's start form: the catalogue shows it, start checks it."""
    source = CAMUNDA.replace(
        '<bpmn:startEvent id="start">',
        '<bpmn:startEvent id="start"><bpmn:extensionElements><camunda:formData>'
        '<camunda:formField id="approver" label="Approver" type="string">'
        '<camunda:validation><camunda:constraint name="required" /></camunda:validation></camunda:formField>'
        '<camunda:formField id="prio" label="Priority" type="long" defaultValue="50" />'
        '</camunda:formData></bpmn:extensionElements>')
    definition = services.deploy_definition(source.encode(), "invoice.bpmn", world.users.designer,
                                            role_map={"accounting": "security_office"})
    ref = definition.forms["__start__"]
    assert ref == "formData/start.json"
    assert definition.forms[ref]["required"] == ["approver"]
    assert definition.forms[ref]["properties"]["prio"] == {"type": "integer", "title": "Priority", "default": 50}
    with pytest.raises(InvalidFormData) as refused:
        services.start_process("camunda_invoice", world.users.designer, {"prio": 10})
    assert refused.value.field == "approver"
    instance = services.start_process("camunda_invoice", world.users.designer, {"approver": "head", "prio": 10})
    with services.uow() as uow:
        task = uow.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    assert (task.bpmn_id, task.assignee_id) == ("approve", world.users.head)


# -- a rejected rectification goes back to whoever did it (preferredAssignee + recordPerformerAs) ---------------
REWORK_REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-20"}
REWORK_PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-11-18",
               "plan_contingency": "停用该车床"}


def _rectified_then_rejected(services, world, report_hazard, do, task_of, change_doer=None):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REWORK_REGISTER, "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, REWORK_PLAN)
    first = task_of(hazard.id, "rectify")
    assert first.assignee_id is None, "the first round goes to the unit's group"
    do(hazard.id, "rectify", world.users.staff2, {"measures": "加装防护罩", "completion": "完成"})
    if change_doer is not None:
        with services.uow() as uow:
            change_doer(uow.session, world.users.staff2)
            uow.commit()
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": False, "reason": "防护罩未固定"})
    return task_of(hazard.id, "rectify")


def test_a_rejected_rectification_lands_in_the_doers_own_tasks(services, world, report_hazard, do, task_of):
    rework = _rectified_then_rejected(services, world, report_hazard, do, task_of)
    assert rework.assignee_id == world.users.staff2 and rework.claimed_at == services.clock.now()
    assert [t.id for t in inbox(services, world.users.staff2, "mine")] == [rework.id]
    assert rework.id not in [t.id for t in inbox(services, world.users.staff, "groups")]
    with services.uow() as uow:
        told = [m.recipient_id for m in uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "task_created")) if m.payload.get("task_id") == rework.id]
    assert told and set(told) == {world.users.staff2}  # told in person, not the whole group


def _deactivate(s, user_id):
    s.get(User, user_id).active = False


def _revoke_roles(s, user_id):
    s.execute(delete(RoleGrant).where(RoleGrant.user_id == user_id))


@pytest.mark.parametrize("change_doer", [_deactivate, _revoke_roles], ids=["deactivated", "role revoked"])
def test_a_rework_whose_doer_may_no_longer_do_it_goes_to_the_units_group(services, world, report_hazard, do,
                                                                        task_of, change_doer):
    rework = _rectified_then_rejected(services, world, report_hazard, do, task_of, change_doer)
    assert rework.assignee_id is None
    assert (rework.candidate_role, rework.candidate_org_id) == ("department_staff", world.orgs.college)
    assert rework.id in [t.id for t in inbox(services, world.users.staff, "groups")]
