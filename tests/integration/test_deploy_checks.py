"""Deploy-time checks on scripts and service-task operators, through the bundle pipeline (Services.deploy_bundle)."""
from __future__ import annotations

import pytest

from engine.infra.errors import InvalidDiagram
from engine.process.bundles import Bundle
from engine.process.models import ProcessInstance

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs"
    targetNamespace="http://example.org/d">
  <bpmn:process id="checked" name="检查" isExecutable="true">
    <bpmn:startEvent id="start" />
"""
TAIL = """    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _bundle(task: str) -> Bundle:
    bundle = Bundle()
    bundle.add("checked.bpmn", (HEAD + task + TAIL).encode())
    return bundle


def test_a_script_reading_a_file_or_the_environment_is_refused_at_deploy_naming_element_and_line(services, world):
    task = ('    <bpmn:scriptTask id="work" name="读密码">\n'
            "      <bpmn:script>users = open('/etc/passwd').read()\nhome = os.environ['HOME']</bpmn:script>\n"
            "    </bpmn:scriptTask>\n")
    with pytest.raises(InvalidDiagram) as refused:
        services.deploy_bundle(_bundle(task), world.users.designer)
    text = str(refused.value)
    assert "'work'" in text and "读密码" in text and "'open'" in text and "'os'" in text
    assert "line 8" in text and "line 9" in text  # the script starts on line 8 of the file


def test_an_operator_left_on_a_script_task_deploys_with_a_warning_and_the_script_runs(services, world):
    task = ('    <bpmn:scriptTask id="work" name="脚本">\n      <bpmn:extensionElements>\n'
            '        <spiffworkflow:serviceTaskOperator id="http/GetRequestV2" resultVariable="response" />\n'
            "      </bpmn:extensionElements>\n      <bpmn:script>done = 'yes'</bpmn:script>\n    </bpmn:scriptTask>\n")
    warnings = []
    [definition] = services.deploy_bundle(_bundle(task), world.users.designer, warnings=warnings)
    assert [(w.code, w.element_id) for w in warnings] == [("ignored-operator", "work")]
    instance = services.start_process(definition.key, world.users.designer, {})
    with services.uow() as uow:
        stored = uow.session.get(ProcessInstance, instance.id)
        workflow = services.runtime.load(stored.definition, stored.state_json)
    assert stored.status == "completed" and workflow.data["done"] == "yes" and "response" not in workflow.data
