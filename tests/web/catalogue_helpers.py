"""A process nobody shipped, with a start form, for the catalogue, instance and inbox tests (pages, API, browser).

采购申请: the start event's form asks for an item and an amount; a script prices it; the security office (its
lane) approves; the end. Forms are read from the deployment's folder, so tests use a copy of bpmn/ with the form.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.infra.config import DEFAULT_BPMN_DIR

FORM_REF = "forms/purchase_start.json"
START_FORM = {
    "type": "object",
    "required": ["item", "amount"],
    "properties": {
        "item": {"type": "string", "title": "采购物品", "maxLength": 100},
        "amount": {"type": "integer", "title": "数量", "minimum": 1},
    },
}
DIAGRAM = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_purchase_form"
    targetNamespace="http://example.org/purchase">
  <bpmn:process id="purchase_form" name="采购申请（表单）" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_security" name="security_office">
        <bpmn:flowNodeRef>approve</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="提出申请">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="{FORM_REF}" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:scriptTask id="price" name="计价"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>total = amount * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="approve" name="审批采购"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="price" />
    <bpmn:sequenceFlow id="f2" sourceRef="price" targetRef="approve" />
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram">
    <bpmndi:BPMNPlane id="plane" bpmnElement="purchase_form">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="price_di" bpmnElement="price"><dc:Bounds x="190" y="78" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="approve_di" bpmnElement="approve"><dc:Bounds x="340" y="78" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="490" y="100" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="118" /><di:waypoint x="190" y="118" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="290" y="118" /><di:waypoint x="340" y="118" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="440" y="118" /><di:waypoint x="490" y="118" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def bpmn_dir_with_form(tmp_path: Path) -> Path:
    """A copy of the shipped bpmn/ folder plus the purchase start form."""
    target = tmp_path / "bpmn"
    shutil.copytree(DEFAULT_BPMN_DIR, target)
    (target / FORM_REF).write_text(json.dumps(START_FORM, ensure_ascii=False), encoding="utf-8")
    return target


def deploy_purchase(services, user_id: int | None = None):
    """Deploy the purchase process (as `user_id`, a designer, or as the system)."""
    return services.deploy_definition(DIAGRAM.encode("utf-8"), "purchase_form.bpmn", user_id)
