"""Camunda's JUEL as it appears in real diagrams becomes restricted Python; anything else is refused, with where."""
from __future__ import annotations

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.process.juel import (
    FIX,
    JuelError,
    translate,
    translate_document,
    translate_value,
)
from engine.process.scripting import evaluate_expression


@pytest.mark.parametrize(("juel", "python"), [
    ("${approved}", "approved"),
    ("${amount > 1000}", "(amount > 1000)"),
    ("${!x}", "(not x)"),
    ("${not x}", "(not x)"),
    ("#{x == 'a'}", "(x == 'a')"),
    ('${x eq "a" && y ne null}', "((x == 'a') and (y != None))"),
    ("${a || b and c}", "(a or (b and c))"),
    ("${a or b}", "(a or b)"),
    ("${score <= 5}", "(score <= 5)"),
    ("${n mod 2 == 0}", "((n % 2) == 0)"),
    ("${total div 2 ge 10}", "((total / 2) >= 10)"),
    ("${x ? 'yes' : 'no'}", "('yes' if x else 'no')"),
    ("${customer.name == 'Ann'}", "(customer['name'] == 'Ann')"),
    ("${items[0] lt -1}", "(items[0] < (-1))"),
    ("${ true }", "True"),
])
def test_the_juel_of_real_diagrams_becomes_python(juel, python):
    assert translate(juel) == python


@pytest.mark.parametrize(("juel", "data", "expected"), [
    ("${amount > 1000}", {"amount": 1500}, True),
    ("${!approved}", {"approved": False}, True),
    ("#{grade == 'major' && !closed}", {"grade": "major", "closed": False}, True),
    ("${empty comment}", {"comment": ""}, True),
    ("${empty comment}", {"comment": "ok"}, False),
    ("${not empty list}", {"list": [1]}, True),
    ("${customer.age ge 21}", {"customer": {"age": 20}}, False),
    ("${reviewer == null}", {"reviewer": None}, True),
])
def test_translations_evaluate_in_the_restricted_evaluator(juel, data, expected):
    assert evaluate_expression(translate(juel), data) is expected


@pytest.mark.parametrize("juel", [
    '${customer.prop("age").numberValue() >= 21}',
    "${execution.getVariable('x')}",
    "${execution}",
    "${task.assignee}",
    "${dateTime().plusDays(2)}",
    "${a instanceof b}",
    "Hello ${name}",
    "${a ==}",
    "${a ; b}",
])
def test_everything_else_is_refused(juel):
    with pytest.raises(JuelError):
        translate(juel)


def test_plain_attribute_values_become_string_literals():
    assert translate_value("demo") == "'demo'"
    assert translate_value("${initiator}") == "initiator"
    assert translate_value("  ") is None


DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:sequenceFlow id="yes" name="over 21" sourceRef="g" targetRef="t">
      <bpmn:conditionExpression>${approved &amp;&amp; amount &gt; 1000}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="bad" name="Prop" sourceRef="g" targetRef="t">
      <bpmn:conditionExpression>${customer.prop("age").numberValue() &gt;= 21}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="groovy" sourceRef="g" targetRef="t">
      <bpmn:conditionExpression language="groovy">amount &gt; 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:scriptTask id="js" name="Score" scriptFormat="javascript"><bpmn:script>var a = 1;</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="py" scriptFormat="python"><bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition id="td"><bpmn:timeDuration>PT5M</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="wait2">
      <bpmn:timerEventDefinition id="td2"><bpmn:timeDuration>${delay}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="wait3">
      <bpmn:timerEventDefinition id="td3"><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_document_is_rewritten_in_place_and_refusals_name_element_line_and_fix():
    root = etree.fromstring(DIAGRAM.encode())
    findings = translate_document(root, "loan.bpmn")
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    assert root.xpath("//bpmn:sequenceFlow[@id='yes']/bpmn:conditionExpression/text()", namespaces=ns) == [
        "(approved and (amount > 1000))"]
    assert root.xpath("//*[@id='td']/bpmn:timeDuration/text()", namespaces=ns) == ["'PT5M'"]
    assert root.xpath("//*[@id='td2']/bpmn:timeDuration/text()", namespaces=ns) == ["delay"]
    assert root.xpath("//*[@id='td3']/bpmn:timeDuration/text()", namespaces=ns) == ['"PT1H"']
    assert [(f.element_id, f.element_name, f.line, f.fix, f.file) for f in findings] == [
        ("bad", "Prop", 8, FIX, "loan.bpmn"), ("groovy", None, 11, FIX, "loan.bpmn"),
        ("js", "Score", 13, "write it as a Python script", "loan.bpmn")]
    assert "prop" in findings[0].message and "groovy" in findings[1].message
    assert "write it as a Python expression" in str(findings[0])


MULTI = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="scores" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="rate" name="Rate">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${creditScores}" camunda:elementVariable="score" />
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="rate" />
    <bpmn:sequenceFlow id="f2" sourceRef="rate" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_camunda_multi_instance_collection_becomes_the_loop_input_spiffworkflow_reads():
    root = etree.fromstring(MULTI.encode())
    assert translate_document(root, "scores.bpmn") == []
    parser = SpiffBpmnParser(validator=BpmnValidator())
    parser.add_bpmn_xml(root, "scores.bpmn")  # XSD-valid after the rewrite
    spec = parser.get_spec("scores").task_specs["rate"]
    assert (spec.data_input.bpmn_id, spec.input_item.bpmn_id) == ("creditScores", "score")
    bad = etree.fromstring(MULTI.replace("${creditScores}", "${customer.scores()}").encode())
    assert [f.element_id for f in translate_document(bad, "scores.bpmn")] == ["rate"]
