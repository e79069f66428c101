"""Incidents instead of 500s: a failing step leaves the task open, tells the user what failed, and can be retried."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.infra.errors import InvalidDiagram, NotAllowed, WorkflowFailed
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process import messaging
from engine.process.incidents import list_incidents
from engine.process.models import (
    Event,
    HumanTask,
    Incident,
    OutboxMessage,
    ProcessInstance,
    ProcessMessage,
)
from engine.process.webhooks import add_webhook
from tests.incident_diagrams import (
    AFTER_WAIT,
    APPROVE,
    ENTER,
    GOOD_SCRIPT,
    PRICE,
    WAIT,
    diagram,
    message_catch,
    message_start,
    service_task,
)


@pytest.fixture
def admin(services, world):
    """An administrator of the school."""
    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        user = accounts.add_user(s, "admin1", "管理员", "pw-admin1", school, services.clock.now(),
                                 roles=[("admin", school)])
        uow.commit()
        return user.id


def _deploy_line(services, world, key, nodes, start="", messages=()):
    return services.deploy_definition(diagram(key, key, nodes, ["approve"], start, messages), f"{key}.bpmn",
                                      world.users.designer)


def _deploy(services, world, key, nodes, user_tasks):
    return services.deploy_definition(diagram(key, key, nodes, user_tasks), f"{key}.bpmn", world.users.designer)


def _open(services, instance_id, bpmn_id):
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready")).one()


def _incidents(services, instance_id):
    with services.uow() as uow:
        return list(uow.session.scalars(select(Incident).where(Incident.instance_id == instance_id)
                                        .order_by(Incident.id)))


def test_a_failing_script_answers_the_user_and_opens_an_incident_that_a_retry_resolves(services, world, admin):
    _deploy(services, world, "purchase", [ENTER, PRICE, APPROVE], ["enter", "approve"])
    instance = services.start_process("purchase", world.users.designer, {})
    enter = _open(services, instance.id, "enter")

    with pytest.raises(WorkflowFailed, match="'计价' \\(price\\) failed") as failed:
        services.complete_task(enter.id, world.users.security, {})
    assert "missing variable 'amount'" in failed.value.message

    # Nothing of the advance was stored: the task is still open; the instance has one incident naming the element.
    assert _open(services, instance.id, "enter").id == enter.id
    [incident] = _incidents(services, instance.id)
    assert (incident.kind, incident.status, incident.element_id, incident.element_name, incident.variable,
            incident.task_id, incident.submitted_by_id) == (
        "task", "open", "price", "计价", "amount", enter.id, world.users.security)
    with services.uow() as uow:
        told = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "incident_opened")).all()
        assert [(m.recipient_id, m.payload["incident_id"]) for m in told] == [(world.users.designer, incident.id)]

    # Failing again updates the same incident.
    with pytest.raises(WorkflowFailed):
        services.complete_task(enter.id, world.users.security, {})
    assert [(i.id, i.failures) for i in _incidents(services, instance.id)] == [(incident.id, 2)]

    # Only an administrator fixes the data; then the retry submits the same form again and the process moves on.
    with pytest.raises(NotAllowed):
        services.set_instance_variables(instance.id, world.users.designer, {"amount": 5})
    services.set_instance_variables(instance.id, admin, {"amount": 5})
    retried = services.retry_incident(incident.id, admin)
    assert (retried.status, retried.resolved_by_id) == ("resolved", world.users.security)
    approve = _open(services, instance.id, "approve")
    with services.uow() as uow:
        kinds = [e.kind for e in uow.session.scalars(select(Event).where(Event.instance_id == instance.id)
                                                     .order_by(Event.id))]
        changed = uow.session.scalars(select(Event).where(Event.kind == "VariablesChanged")).one()
    assert {"IncidentOpened", "IncidentFailedAgain", "VariablesChanged", "IncidentRetried", "IncidentResolved",
            "TaskCompleted"} <= set(kinds)
    assert (changed.actor_id, changed.data["set"], changed.data["before"]) == (admin, {"amount": 5}, {})
    services.complete_task(approve.id, world.users.security, {})


def test_a_user_completing_the_task_with_good_data_resolves_its_incident(services, world):
    _deploy(services, world, "purchase", [ENTER, PRICE, APPROVE], ["enter", "approve"])
    instance = services.start_process("purchase", world.users.designer, {})
    enter = _open(services, instance.id, "enter")
    with pytest.raises(WorkflowFailed):
        services.complete_task(enter.id, world.users.security, {})
    services.complete_task(enter.id, world.users.security, {"amount": 3})
    assert [i.status for i in _incidents(services, instance.id)] == ["resolved"]


def test_a_failing_timer_records_an_incident_and_the_sweep_carries_on(services, world, admin, clock):
    _deploy(services, world, "late_bad", [WAIT, AFTER_WAIT, APPROVE], ["approve"])
    _deploy(services, world, "late_good", [WAIT, GOOD_SCRIPT, APPROVE], ["approve"])
    bad = services.start_process("late_bad", world.users.designer, {})
    good = services.start_process("late_good", world.users.designer, {})
    clock.advance(timedelta(hours=2))

    sweep = services.fire_due_timers()
    assert (sweep.fired, sweep.skipped, sweep.failed) == (1, 0, 1)
    assert _open(services, good.id, "approve")
    [incident] = _incidents(services, bad.id)
    assert (incident.kind, incident.element_id, incident.variable, incident.org_id) == (
        "timer", "after_wait", "missing", world.orgs.school)
    with services.uow() as uow:
        assert uow.session.get(ProcessInstance, bad.id).next_timer_at is None  # off the sweep until retried
        visible = list_incidents(uow.session, accounts.get_user(uow.session, world.users.designer))
        assert [i.id for i in visible] == [incident.id]
        with pytest.raises(NotAllowed):
            list_incidents(uow.session, accounts.get_user(uow.session, world.users.staff))
    assert services.fire_due_timers() == type(sweep)(fired=0, skipped=0)

    # A retry before the fix fails again with the new message; after the fix it moves on.
    with pytest.raises(WorkflowFailed, match="failed again.*missing variable 'missing'"):
        services.retry_incident(incident.id, admin)
    assert [(i.status, i.failures) for i in _incidents(services, bad.id)] == [("open", 2)]
    services.set_instance_variables(bad.id, admin, {"missing": 1})
    assert services.retry_incident(incident.id, world.users.designer).status == "resolved"
    assert _open(services, bad.id, "approve")


def test_service_task_operators_set_variables_and_queue_notifications(services, world):
    nodes = [service_task("set_total", "set_variable", {"name": "'total'", "value": "amount * 3"}),
             service_task("tell", "notify", {"user": "'security'", "message": "f'共 {total} 元'"}),
             APPROVE]
    _deploy(services, world, "operated", nodes, ["approve"])
    instance = services.start_process("operated", world.users.designer, {"amount": 4})
    approve = _open(services, instance.id, "approve")
    with services.uow() as uow:
        [notice] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "process_notice")).all()
    assert (notice.recipient_id, notice.payload["body"], notice.payload["instance_id"]) == (
        world.users.security, "共 12 元", instance.id)
    workflow = services.runtime.load(instance.definition, _instance(services, instance.id).state_json)
    ready = services.runtime.ready_user_tasks(workflow)[0]
    assert ready.data["total"] == 12 and str(approve.spiff_task_id) == str(ready.id)


def test_an_unknown_operator_and_a_missing_webhook_are_clear_errors(services, world):
    # Lint refuses an operator nobody registered at deploy, so it never gets as far as running.
    with pytest.raises(InvalidDiagram, match="operator 'send_fax' is not registered"):
        _deploy(services, world, "unknown_op", [service_task("call", "send_fax", {"to": "'x'"}), APPROVE],
                ["approve"])
    _deploy(services, world, "posting", [ENTER, service_task("post", "http_post", {"endpoint": "'robot'",
                                                                                "body": "{'n': n}"}), APPROVE],
            ["enter", "approve"])
    instance = services.start_process("posting", world.users.designer, {})
    with pytest.raises(WorkflowFailed, match="'robot' is not an active webhook endpoint"):
        services.complete_task(_open(services, instance.id, "enter").id, world.users.security, {"n": 1})
    assert [i.kind for i in _incidents(services, instance.id)] == ["task"]


def _instance(services, instance_id):
    with services.uow() as uow:
        return uow.session.get(ProcessInstance, instance_id)


def test_a_failing_deferred_delivery_opens_an_incident_that_a_retry_resolves(services, world, admin):
    _deploy_line(services, world, "receiver", [message_catch("wait_ping", "ping"), AFTER_WAIT, APPROVE],
                 messages=("ping",))
    receiver = services.start_process("receiver", world.users.designer, {})
    messaging.delivery_mode = "deferred"
    try:
        with services.uow() as uow:
            sent = messaging.send_message(services.projector(uow.session, services.clock.now(), None), "ping", {},
                                          {"note": "x"})
            uow.commit()
    finally:
        messaging.delivery_mode = "inline"
    [incident] = _incidents(services, receiver.id)
    assert (incident.kind, incident.message_id, incident.element_id, incident.variable) == (
        "message", sent.id, "after_wait", "missing")
    with services.uow() as uow:
        assert uow.session.get(ProcessMessage, sent.id).status == "pending"  # its backoff keeps it queued

    services.set_instance_variables(receiver.id, admin, {"missing": 0})
    assert services.retry_incident(incident.id, admin).status == "resolved"
    assert _open(services, receiver.id, "approve")
    with services.uow() as uow:
        assert uow.session.get(ProcessMessage, sent.id).status == "delivered"


def test_a_failing_step_after_a_message_start_keeps_the_instance_with_an_incident(services, world, admin):
    _deploy_line(services, world, "kicked", [AFTER_WAIT, APPROVE], start=message_start("kickoff"),
                 messages=("kickoff",))
    with services.uow() as uow:
        sent = messaging.send_message(services.projector(uow.session, services.clock.now(), None), "kickoff", {},
                                      {"school_id": world.orgs.school})
        uow.commit()  # the sender is not rolled back by the new instance's failure
    with services.uow() as uow:
        started = uow.session.get(ProcessMessage, sent.id)
        assert started.status == "started"
        instance_id = started.target_instance_id
    [incident] = _incidents(services, instance_id)
    assert (incident.kind, incident.element_id, incident.org_id) == ("start", "after_wait", world.orgs.school)

    services.set_instance_variables(instance_id, admin, {"missing": 2})
    assert services.retry_incident(incident.id, admin).status == "resolved"
    assert _open(services, instance_id, "approve")


def test_http_post_queues_a_webhook_delivery_to_an_allowed_endpoint(services, world):
    endpoint = add_webhook(services, world.orgs.school, "robot", "https://example.org/hook?key=abcd", style="json")
    _deploy(services, world, "posting", [_post_task(), APPROVE], ["approve"])
    instance = services.start_process("posting", world.users.designer, {"n": 3})
    with services.uow() as uow:
        [row] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "process_http_post")).all()
    assert (row.channel, row.recipient_org_id, row.payload["endpoint_id"], row.payload["body"],
            row.payload["instance_id"]) == ("webhook", world.orgs.school, endpoint.id, {"n": 3}, instance.id)


def _post_task():
    return service_task("post", "http_post", {"endpoint": "'robot'", "body": "{'n': n}"})


GATEWAY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_gw"
    targetNamespace="http://example.org/gw">
  <bpmn:process id="routed" name="分流" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="lane_security" name="security_office">
      <bpmn:flowNodeRef>enter</bpmn:flowNodeRef><bpmn:flowNodeRef>approve</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="enter" name="填写"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing></bpmn:userTask>
    <bpmn:exclusiveGateway id="how_big" name="金额大吗" default="f_small">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f_big</bpmn:outgoing><bpmn:outgoing>f_small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="approve" name="审批"><bpmn:incoming>f_big</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f_small</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="enter" />
    <bpmn:sequenceFlow id="f1" sourceRef="enter" targetRef="how_big" />
    <bpmn:sequenceFlow id="f_big" sourceRef="how_big" targetRef="approve">
      <bpmn:conditionExpression>amount &gt; 10</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_small" sourceRef="how_big" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_gateway_condition_on_a_missing_variable_names_the_gateway(services, world):
    services.deploy_definition(GATEWAY.encode(), "routed.bpmn", world.users.designer)
    instance = services.start_process("routed", world.users.designer, {})
    enter = _open(services, instance.id, "enter")
    with pytest.raises(WorkflowFailed, match="'金额大吗' \\(how_big\\) failed.*missing variable 'amount'"):
        services.complete_task(enter.id, world.users.security, {})
    services.complete_task(enter.id, world.users.security, {"amount": 20})
    assert _open(services, instance.id, "approve")
    assert [(i.element_id, i.status) for i in _incidents(services, instance.id)] == [("how_big", "resolved")]
