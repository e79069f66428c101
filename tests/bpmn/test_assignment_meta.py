"""user_task_meta reads every inbox task at any depth: subprocesses, transactions, event subprocesses, callees."""
from __future__ import annotations

from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.process.assignment import user_task_meta
from engine.process.juel import translate_document

DEEP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_deep" targetNamespace="x">
  <bpmn:message id="msg_cancel" name="cancel" />
  <bpmn:process id="deep" name="Deep" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_sec" name="security_office">
        <bpmn:flowNodeRef>tx</bpmn:flowNodeRef><bpmn:flowNodeRef>call</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:transaction id="tx" name="Pay"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="tx_start"><bpmn:outgoing>t1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="pay" name="Pay">
        <bpmn:extensionElements><spiffworkflow:properties>
          <spiffworkflow:property name="dueDuration" value="P5D" /><spiffworkflow:property name="priority" value="90" />
        </spiffworkflow:properties></bpmn:extensionElements>
        <bpmn:incoming>t1</bpmn:incoming><bpmn:outgoing>t2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="tx_end"><bpmn:incoming>t2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="t1" sourceRef="tx_start" targetRef="pay" />
      <bpmn:sequenceFlow id="t2" sourceRef="pay" targetRef="tx_end" />
    </bpmn:transaction>
    <bpmn:callActivity id="call" name="Review" calledElement="callee"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="tx" />
    <bpmn:sequenceFlow id="f2" sourceRef="tx" targetRef="call" />
    <bpmn:sequenceFlow id="f3" sourceRef="call" targetRef="end" />
    <bpmn:subProcess id="on_cancel" triggeredByEvent="true">
      <bpmn:startEvent id="cancel_start" isInterrupting="true"><bpmn:outgoing>c1</bpmn:outgoing>
        <bpmn:messageEventDefinition id="med" messageRef="msg_cancel" /></bpmn:startEvent>
      <bpmn:userTask id="explain" name="Explain" camunda:candidateGroups="leader, department_head@responsible_unit_id">
        <bpmn:incoming>c1</bpmn:incoming><bpmn:outgoing>c2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="cancel_end"><bpmn:incoming>c2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="c1" sourceRef="cancel_start" targetRef="explain" />
      <bpmn:sequenceFlow id="c2" sourceRef="explain" targetRef="cancel_end" />
    </bpmn:subProcess>
  </bpmn:process>
  <bpmn:process id="callee" name="Callee" isExecutable="true">
    <bpmn:startEvent id="callee_start"><bpmn:outgoing>k1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:manualTask id="look" name="Look" camunda:assignee="${reviewer}" camunda:dueDate="${deadline}">
      <bpmn:incoming>k1</bpmn:incoming><bpmn:outgoing>k2</bpmn:outgoing></bpmn:manualTask>
    <bpmn:endEvent id="callee_end"><bpmn:incoming>k2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="k1" sourceRef="callee_start" targetRef="look" />
    <bpmn:sequenceFlow id="k2" sourceRef="look" targetRef="callee_end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _meta(source: str, process_id: str = "deep", role_map=None):
    root = etree.fromstring(source.encode())
    assert translate_document(root, "deep.bpmn") == []
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(root, "deep.bpmn")
    return user_task_meta(parser.get_spec(process_id), parser.get_subprocess_specs(process_id), {"deep.bpmn": root},
                          role_map, available_forms=set())


def test_tasks_at_every_depth_get_their_meta():
    result = _meta(DEEP)
    assert result.findings == []
    meta = result.task_meta
    assert set(meta) == {"pay", "explain", "look"}
    # inside a transaction sitting in a lane: the lane's role, its own due time and priority
    assert (meta["pay"]["lane"], meta["pay"]["due_duration"], meta["pay"]["priority"]) == (
        "security_office", "P5D", 90)
    # inside an event subprocess: two candidate groups, the second with its organisation
    assert meta["explain"]["candidate_groups"] == [
        {"role": "leader", "role_expression": None, "org": None},
        {"role": "department_head", "role_expression": None, "org": "responsible_unit_id"}]
    assert meta["explain"]["starter"] is False
    # a manual task in a call activity's callee: JUEL assignee and due date
    assert (meta["look"]["assignee"], meta["look"]["due_expression"], meta["look"]["process"]) == (
        "reviewer", "deadline", "callee")


def test_a_form_missing_from_the_bundle_and_an_unmapped_group_are_findings_naming_the_task():
    source = DEEP.replace('name="Look"', 'name="Look" camunda:formKey="forms/look.json"').replace(
        "leader, department_head", "Auditors, department_head")
    findings = {(f.code, f.element_id) for f in _meta(source).findings}
    assert findings == {("missing-form", "look"), ("group-not-a-role", "explain")}
    assert {(f.code, f.element_id) for f in _meta(source, role_map={"*": "leader"}).findings} == {
        ("missing-form", "look")}
