"""Runaway scripts and conditions in a deployed diagram end as an incident or a refusal (422), promptly.

A script task or a gateway condition that loops forever or would build a huge value stops at its budget; right
after the start event nothing is stored, after a user task the task stays open with an incident naming the
element and the budget."""
from __future__ import annotations

import time
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select

from engine.infra.errors import WorkflowFailed
from engine.process.models import Event, HumanTask, Incident, OutboxMessage, ProcessInstance
from engine.process.script_budget import ScriptLimits, limits
from engine.process.scripting import configure_budget
from tests.incident_diagrams import ENTER, diagram

GENEROUS = 30  # seconds: the request must come back; how fast beyond that is not measured

SCRIPTS = [
    ("while True: pass", "exceeded its time budget of 0.5 s"),
    ("x = 10**10**10", "exceeded its size budget: it would make an integer of about 10,000,000,000 digits"),
    ("x = len('a'*1500000000)", "exceeded its size budget: it would make a string of 1,500,000,000 characters"),
]
CONDITIONS = [
    ("[1 for i in range(10**6) for j in range(10**6)] == []", "exceeded its time budget of 0.5 s"),
    ("10**10**10 > 1", "exceeded its size budget: it would make an integer of about 10,000,000,000 digits"),
    ("len('a'*1500000000) > 3", "exceeded its size budget: it would make a string of 1,500,000,000 characters"),
]


@pytest.fixture(autouse=True)
def short_budget():
    before = limits()
    configure_budget(ScriptLimits(time_seconds=0.5, max_items=before.max_items, max_int_digits=before.max_int_digits))
    yield
    configure_budget(before)


def _script(source: str) -> str:
    return f'<bpmn:scriptTask id="spin" name="失控脚本"><bpmn:script>{escape(source)}</bpmn:script></bpmn:scriptTask>'


def _gateway(condition: str, after_start: bool) -> bytes:
    head = ('<bpmn:userTask id="enter" name="填写"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>'
            '</bpmn:userTask><bpmn:sequenceFlow id="f1" sourceRef="enter" targetRef="gw" />'
            '<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="enter" />' if not after_start else
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw" />')
    lane = "<bpmn:flowNodeRef>enter</bpmn:flowNodeRef>" if not after_start else ""
    first = "f0" if not after_start else "f1"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_gw"
    targetNamespace="http://example.org/gw">
  <bpmn:process id="routed" name="分流" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="lane_security" name="security_office">{lane}
      <bpmn:flowNodeRef>approve</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>{first}</bpmn:outgoing></bpmn:startEvent>
    {head}
    <bpmn:exclusiveGateway id="gw" name="失控条件" default="f_small">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f_big</bpmn:outgoing><bpmn:outgoing>f_small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="approve" name="审批"><bpmn:incoming>f_big</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f_small</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f_big" sourceRef="gw" targetRef="approve">
      <bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_small" sourceRef="gw" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def _counts(services) -> dict:
    with services.uow() as uow:
        return {model.__name__: uow.session.scalar(select(func.count()).select_from(model))
                for model in (ProcessInstance, HumanTask, Event, Incident, OutboxMessage)}


def _start_refused(services, world, key: str) -> str:
    before = _counts(services)
    started = time.monotonic()
    with pytest.raises(WorkflowFailed) as failed:
        services.start_process(key, world.users.designer, {})
    assert time.monotonic() - started < GENEROUS
    assert _counts(services) == before  # nothing of the failed start was stored
    return failed.value.message


def _complete_fails(services, world, key: str) -> tuple[str, Incident]:
    instance = services.start_process(key, world.users.designer, {})
    with services.uow() as uow:
        enter = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                            HumanTask.bpmn_id == "enter")).one()
    started = time.monotonic()
    with pytest.raises(WorkflowFailed) as failed:
        services.complete_task(enter.id, world.users.security, {})
    assert time.monotonic() - started < GENEROUS
    with services.uow() as uow:
        s = uow.session
        assert s.get(HumanTask, enter.id).state == "ready"  # the task stays open
        [incident] = s.scalars(select(Incident).where(Incident.instance_id == instance.id)).all()
        assert not s.scalars(select(Event).where(Event.instance_id == instance.id,
                                                 Event.kind == "TaskCompleted")).all()
        s.expunge(incident)
    return failed.value.message, incident


@pytest.mark.parametrize("source, reason", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_a_runaway_script_after_the_start_event_is_refused_and_nothing_is_stored(services, world, source, reason):
    services.deploy_definition(diagram("runaway", "失控", [_script(source)], []), "runaway.bpmn", world.users.designer)
    message = _start_refused(services, world, "runaway")
    assert "'失控脚本' (spin) failed: BPMN script " + reason in message


@pytest.mark.parametrize("source, reason", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_a_runaway_script_after_a_user_task_becomes_an_incident(services, world, source, reason):
    services.deploy_definition(diagram("runaway", "失控", [ENTER, _script(source)], ["enter"]), "runaway.bpmn",
                               world.users.designer)
    message, incident = _complete_fails(services, world, "runaway")
    assert "'失控脚本' (spin) failed: BPMN script " + reason in message
    assert (incident.kind, incident.status, incident.element_id) == ("task", "open", "spin")
    assert "BPMN script " + reason in incident.message


@pytest.mark.parametrize("condition, reason", CONDITIONS, ids=[c for c, _ in CONDITIONS])
def test_a_runaway_condition_after_the_start_event_is_refused_and_nothing_is_stored(services, world, condition,
                                                                                     reason):
    services.deploy_definition(_gateway(condition, after_start=True), "routed.bpmn", world.users.designer)
    message = _start_refused(services, world, "routed")
    assert "'失控条件' (gw) failed: BPMN expression " + reason in message


@pytest.mark.parametrize("condition, reason", CONDITIONS, ids=[c for c, _ in CONDITIONS])
def test_a_runaway_condition_after_a_user_task_becomes_an_incident(services, world, condition, reason):
    services.deploy_definition(_gateway(condition, after_start=False), "routed.bpmn", world.users.designer)
    message, incident = _complete_fails(services, world, "routed")
    assert "'失控条件' (gw) failed: BPMN expression " + reason in message
    assert (incident.kind, incident.status, incident.element_id) == ("task", "open", "gw")
    assert "BPMN expression " + reason in incident.message


def _endless_loop() -> bytes:
    """Each script is quick, but the gateway always sends the token back: the process never waits."""
    return b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_loop"
    targetNamespace="http://example.org/loop">
  <bpmn:process id="endless" name="\xe6\x97\xa0\xe5\xb0\xbd\xe5\xbe\xaa\xe7\x8e\xaf" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="init" name="init"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:script>n = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="step" name="step"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f_again</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" name="again" default="f_again">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f_done</bpmn:outgoing><bpmn:outgoing>f_again</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f_done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="init" />
    <bpmn:sequenceFlow id="f1" sourceRef="init" targetRef="step" />
    <bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="gw" />
    <bpmn:sequenceFlow id="f_done" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression>n &lt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_again" sourceRef="gw" targetRef="step" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_diagram_that_loops_without_waiting_stops_at_the_step_budget(services, world, monkeypatch):
    """No single script is slow: the loop through the gateway is what never ends, and one advance is bounded."""
    monkeypatch.setattr("engine.process.runtime.STEP_BUDGET", 500)
    services.deploy_definition(_endless_loop(), "endless.bpmn", world.users.designer)
    message = _start_refused(services, world, "endless")
    assert "the process ran 500 steps without waiting" in message
