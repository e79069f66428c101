"""Message correlation in diagrams from elsewhere: event gateways, processVariableCorrelation, several conversations
in one instance (multi-instance), Camunda payloads (camunda:expression / resultVariable), clear failures."""
from __future__ import annotations

import io

from lxml import etree
from sqlalchemy import select

from engine.process.camunda_messages import translate_messages
from engine.process.models import HumanTask, MessageSubscription, ProcessInstance, ProcessMessage

from .api_fixtures import api, api_app  # noqa: F401
from .test_api_messages import data_of

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://example.org/t">
"""

# An event-based gateway waits for `go` or a one-hour timer: the catch event behind it keeps a none definition in
# SpiffWorkflow (the gateway holds the message), and must still subscribe.
GATEWAY = HEAD + """
  <bpmn:message id="m_go" name="go" />
  <bpmn:process id="gated" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:eventBasedGateway id="g"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:eventBasedGateway>
    <bpmn:intermediateCatchEvent id="got_go"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:messageEventDefinition id="d_go" messageRef="m_go">
        <bpmn:extensionElements><spiffworkflow:messageVariable>go</spiffworkflow:messageVariable>
        </bpmn:extensionElements></bpmn:messageEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="late"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:timerEventDefinition id="t"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e1"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g" />
    <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="got_go" />
    <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="late" />
    <bpmn:sequenceFlow id="f4" sourceRef="got_go" targetRef="e1" />
    <bpmn:sequenceFlow id="f5" sourceRef="late" targetRef="e2" />
  </bpmn:process>
</bpmn:definitions>
"""

# The catch sets its conversation on its own process (processVariableCorrelation) from the start data; the message
# has no correlationProperty of its own (SpiffWorkflow's receive_correlations).
PROCESS_CORRELATION = HEAD + """
  <bpmn:message id="m_answer" name="answer" />
  <bpmn:collaboration id="c"><bpmn:participant id="p" processRef="asker" />
    <bpmn:correlationKey name="ticket"><bpmn:correlationPropertyRef>ticket_no</bpmn:correlationPropertyRef>
    </bpmn:correlationKey></bpmn:collaboration>
  <bpmn:process id="asker" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="d" messageRef="m_answer"><bpmn:extensionElements>
        <spiffworkflow:messageVariable>answer</spiffworkflow:messageVariable>
        <spiffworkflow:processVariableCorrelation><spiffworkflow:propertyId>ticket_no</spiffworkflow:propertyId>
          <spiffworkflow:expression>ticket</spiffworkflow:expression></spiffworkflow:processVariableCorrelation>
      </bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""

# Two multi-instance subprocesses each ask a responder (started by the request) and wait for their own answer:
# one instance waits for `reply` in two conversations at once (SpiffWorkflow's CorrelationTest).
CONVERSATIONS = HEAD + """
  <bpmn:message id="m_ask" name="ask" /><bpmn:message id="m_reply" name="reply" />
  <bpmn:collaboration id="c">
    <bpmn:participant id="p1" processRef="initiator" /><bpmn:participant id="p2" processRef="responder" />
    <bpmn:correlationKey name="conv"><bpmn:correlationPropertyRef>num</bpmn:correlationPropertyRef>
    </bpmn:correlationKey>
  </bpmn:collaboration>
  <bpmn:correlationProperty id="num" name="num">
    <bpmn:correlationPropertyRetrievalExpression messageRef="m_ask"><bpmn:formalExpression>num</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
    <bpmn:correlationPropertyRetrievalExpression messageRef="m_reply"><bpmn:formalExpression>of</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>
  <bpmn:process id="initiator" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="sub"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>nums</bpmn:loopDataInputRef><bpmn:inputDataItem id="n" name="n" />
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:startEvent id="ss"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:scriptTask id="number"><bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing>
        <bpmn:script>my_num = 10 + n</bpmn:script></bpmn:scriptTask>
      <bpmn:sendTask id="ask" messageRef="m_ask"><bpmn:extensionElements>
        <spiffworkflow:messagePayload>{"num": my_num}</spiffworkflow:messagePayload></bpmn:extensionElements>
        <bpmn:incoming>g2</bpmn:incoming><bpmn:outgoing>g3</bpmn:outgoing></bpmn:sendTask>
      <bpmn:receiveTask id="hear" messageRef="m_reply"><bpmn:extensionElements>
        <spiffworkflow:messageVariable>reply</spiffworkflow:messageVariable></bpmn:extensionElements>
        <bpmn:incoming>g3</bpmn:incoming><bpmn:outgoing>g4</bpmn:outgoing></bpmn:receiveTask>
      <bpmn:scriptTask id="check"><bpmn:incoming>g4</bpmn:incoming><bpmn:outgoing>g5</bpmn:outgoing>
        <bpmn:script>assert reply["of"] == my_num
matched = reply["text"]</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="se"><bpmn:incoming>g5</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="g1" sourceRef="ss" targetRef="number" />
      <bpmn:sequenceFlow id="g2" sourceRef="number" targetRef="ask" />
      <bpmn:sequenceFlow id="g3" sourceRef="ask" targetRef="hear" />
      <bpmn:sequenceFlow id="g4" sourceRef="hear" targetRef="check" />
      <bpmn:sequenceFlow id="g5" sourceRef="check" targetRef="se" />
    </bpmn:subProcess>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="sub" />
    <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="e" />
  </bpmn:process>
  <bpmn:process id="responder" isExecutable="true">
    <bpmn:startEvent id="rs"><bpmn:outgoing>h1</bpmn:outgoing>
      <bpmn:messageEventDefinition id="rd" messageRef="m_ask"><bpmn:extensionElements>
        <spiffworkflow:messageVariable>request</spiffworkflow:messageVariable></bpmn:extensionElements>
      </bpmn:messageEventDefinition></bpmn:startEvent>
    <bpmn:userTask id="write" name="Write the answer"><bpmn:incoming>h1</bpmn:incoming><bpmn:outgoing>h2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:intermediateThrowEvent id="answer"><bpmn:incoming>h2</bpmn:incoming><bpmn:outgoing>h3</bpmn:outgoing>
      <bpmn:messageEventDefinition id="ad" messageRef="m_reply"><bpmn:extensionElements>
        <spiffworkflow:messagePayload>{"of": request["num"], "text": text}</spiffworkflow:messagePayload>
      </bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="re"><bpmn:incoming>h3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="h1" sourceRef="rs" targetRef="write" />
    <bpmn:sequenceFlow id="h2" sourceRef="write" targetRef="answer" />
    <bpmn:sequenceFlow id="h3" sourceRef="answer" targetRef="re" />
  </bpmn:process>
</bpmn:definitions>
"""

# Camunda: the requester sends `plan` (camunda:expression) and waits; the approver's answer names the variable
# the requester stores it in (camunda:resultVariable); the approver started by the request has a user task.
CAMUNDA = HEAD + """
  <bpmn:message id="m_req" name="Request" /><bpmn:message id="m_res" name="Result" />
  <bpmn:collaboration id="c">
    <bpmn:participant id="p1" processRef="requester" /><bpmn:participant id="p2" processRef="approver" />
  </bpmn:collaboration>
  <bpmn:process id="requester" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateThrowEvent id="send"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="sd" messageRef="m_req" camunda:expression="plan" />
    </bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="hear"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:messageEventDefinition id="hd" messageRef="m_res" /></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="send" />
    <bpmn:sequenceFlow id="f2" sourceRef="send" targetRef="hear" />
    <bpmn:sequenceFlow id="f3" sourceRef="hear" targetRef="e" />
  </bpmn:process>
  <bpmn:process id="approver" isExecutable="true">
    <bpmn:startEvent id="as"><bpmn:outgoing>h1</bpmn:outgoing>
      <bpmn:messageEventDefinition id="asd" messageRef="m_req" /></bpmn:startEvent>
    <bpmn:userTask id="decide" name="Decide"><bpmn:incoming>h1</bpmn:incoming><bpmn:outgoing>h2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:intermediateThrowEvent id="tell"><bpmn:incoming>h2</bpmn:incoming><bpmn:outgoing>h3</bpmn:outgoing>
      <bpmn:messageEventDefinition id="td" messageRef="m_res" camunda:expression="approved"
                                   camunda:resultVariable="Verdict" /></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="ae"><bpmn:incoming>h3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="h1" sourceRef="as" targetRef="decide" />
    <bpmn:sequenceFlow id="h2" sourceRef="decide" targetRef="tell" />
    <bpmn:sequenceFlow id="h3" sourceRef="tell" targetRef="ae" />
  </bpmn:process>
</bpmn:definitions>
"""


def _deploy(api, text: str, name: str = "d.bpmn"):
    got = api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                   data={"file": (io.BytesIO(text.encode("utf-8")), name)})
    assert got.status_code == 201, got.get_json()
    return got.get_json()


def _start(api, key: str, data: dict | None = None) -> int:
    got = api.call("designer", "POST", "/process-instances", json={"key": key, "data": data or {}})
    assert got.status_code == 201, got.get_json()
    return got.get_json()["id"]


def _subscriptions(services, instance_id: int) -> list[tuple[str, str]]:
    with services.uow() as uow:
        return sorted((r.name, r.correlation) for r in uow.session.scalars(
            select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)))


def _complete(api, services, bpmn_id: str, data: dict, newest: bool = False) -> None:
    with services.uow() as uow:
        task = uow.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready")
                                   .order_by(HumanTask.id.desc() if newest else HumanTask.id)).first()
    assert task is not None, f"no open {bpmn_id}"
    if task.assignee_id is None:
        assert api.call("designer", "POST", f"/tasks/{task.id}/claim").status_code == 200
    done = api.call("designer", "POST", f"/tasks/{task.id}/complete", json={"data": data})
    assert done.status_code == 200, done.get_json()


def test_a_message_catch_behind_an_event_gateway_subscribes_and_takes_the_message(api, services):
    _deploy(api, GATEWAY)
    instance_id = _start(api, "gated")
    assert _subscriptions(services, instance_id) == [("go", "{}")]
    got = api.call("designer", "POST", "/messages", json={"name": "go", "payload": {"now": True}})
    assert got.status_code == 200, got.get_json()
    status, data = data_of(services, instance_id)
    assert status == "completed" and data["go"] == {"now": True}
    assert _subscriptions(services, instance_id) == []


def test_a_catch_correlated_by_process_variable_takes_only_its_conversation(api, services):
    _deploy(api, PROCESS_CORRELATION)
    instance_id = _start(api, "asker", {"ticket": "T-7"})
    assert _subscriptions(services, instance_id) == [("answer", '{"ticket":{"ticket_no":"T-7"}}')]
    other = api.call("designer", "POST", "/messages", json={"name": "answer", "correlation": {"ticket_no": "T-8"},
                                                            "payload": {"text": "not yours"}})
    assert other.status_code == 404, other.get_json()
    got = api.call("designer", "POST", "/messages", json={"name": "answer", "correlation": {"ticket_no": "T-7"},
                                                          "payload": {"text": "yours"}})
    assert got.status_code == 200, got.get_json()
    assert got.get_json()["delivered_instance_ids"] == [instance_id]
    status, data = data_of(services, instance_id)
    assert status == "completed" and data["answer"] == {"text": "yours"}


def test_one_instance_waits_for_one_message_in_two_conversations_and_each_gets_its_own(api, services):
    _deploy(api, CONVERSATIONS)
    instance_id = _start(api, "initiator", {"nums": [0, 1]})
    assert _subscriptions(services, instance_id) == [("reply", '{"conv":{"num":10}}'), ("reply", '{"conv":{"num":11}}')]
    # The responders answer in the other order: each answer reaches the child that asked (its script checks `of`).
    _complete(api, services, "write", {"text": "second asked"}, newest=True)
    assert _subscriptions(services, instance_id) == [("reply", '{"conv":{"num":10}}')]
    _complete(api, services, "write", {"text": "first asked"})
    with services.uow() as uow:
        replies = uow.session.scalars(select(ProcessMessage).where(ProcessMessage.name == "reply")).all()
        assert [(m.status, m.target_instance_id) for m in replies] == [("delivered", instance_id)] * 2
        assert uow.session.get(ProcessInstance, instance_id).status == "completed"
    assert _subscriptions(services, instance_id) == []


def test_camunda_message_payloads_reach_the_catcher_and_the_started_approver_is_in_the_starters_school(
        api, services, world):
    _deploy(api, CAMUNDA)
    instance_id = _start(api, "requester", {"plan": "Best"})
    with services.uow() as uow:
        approver = uow.session.scalars(select(ProcessInstance).join(ProcessInstance.definition)
                                       .where(ProcessInstance.id != instance_id)).one()
        task = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == approver.id)).one()
        # Started by the requester's message, with the requester's starter and organisation (no person sent it).
        assert task.bpmn_id == "decide" and (task.assignee_id, task.candidate_org_id) != (None, None)
        workflow = services.runtime.load(approver.definition, approver.state_json)
        assert workflow.task_tree.data["starter_id"] == world.users.designer
    status, data = data_of(services, approver.id)
    assert data["as_Response"] == "Best"  # no resultVariable on the request: Camunda's <catch id>_Response
    _complete(api, services, "decide", {"approved": "Yes"})
    status, data = data_of(services, instance_id)
    assert status == "completed" and data["Verdict"] == "Yes"


def test_translate_messages_refuses_one_message_thrown_into_two_result_variables():
    doc = etree.fromstring((HEAD + """
  <bpmn:message id="m" name="M" />
  <bpmn:process id="p" isExecutable="true">
    <bpmn:intermediateThrowEvent id="a"><bpmn:messageEventDefinition messageRef="m" camunda:expression="1"
      camunda:resultVariable="x" /></bpmn:intermediateThrowEvent>
    <bpmn:intermediateThrowEvent id="b"><bpmn:messageEventDefinition messageRef="m" camunda:expression="2"
      camunda:resultVariable="y" /></bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="c" name="Catch"><bpmn:messageEventDefinition messageRef="m" />
    </bpmn:intermediateCatchEvent>
  </bpmn:process>
</bpmn:definitions>""").encode())
    (finding,) = translate_messages({"x.bpmn": doc})
    assert (finding.code, finding.element_id, finding.element_name) == ("camunda-result-variable", "c", "Catch")
    assert "x, y" in finding.message and finding.line


def test_a_message_start_that_cannot_read_its_correlation_is_a_clear_422_naming_the_message(api, services):
    # SpiffWorkflow's bpmn/data/correlation.bpmn: a plain throw sends no payload under the Spiff reading, and the
    # responder's start event reads its correlation property from it.
    text = CONVERSATIONS.replace('<spiffworkflow:messagePayload>{"num": my_num}</spiffworkflow:messagePayload>', "")
    _deploy(api, text)
    got = api.call("designer", "POST", "/process-instances", json={"key": "initiator", "data": {"nums": [0]}})
    assert got.status_code == 422, got.get_json()
    message = got.get_json()["message"]
    assert "'ask'" in message and "responder" in message and "num" in message


def test_a_plain_bpmn_throw_sends_the_variables_its_correlation_properties_read():
    doc = etree.fromstring((HEAD + """
  <bpmn:message id="m" name="M" />
  <bpmn:correlationProperty id="cp" name="cp">
    <bpmn:correlationPropertyRetrievalExpression messageRef="m"><bpmn:messagePath>task_num</bpmn:messagePath>
    </bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:intermediateThrowEvent id="a"><bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="c"><bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>
  </bpmn:process>
</bpmn:definitions>""").encode())
    assert translate_messages({"x.bpmn": doc}) == []
    ns = {"spiff": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
    assert doc.xpath("//*[@id='a']//spiff:messagePayload/text()", namespaces=ns) == ["{'task_num': task_num}"]
    assert doc.xpath("//*[@id='c']//spiff:messagePayload", namespaces=ns) == []  # a catch sends nothing
