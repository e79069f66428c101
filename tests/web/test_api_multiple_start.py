"""A start event with several message definitions (SpiffWorkflow's multiple start): messages from outside start it.

Upstream MultipleStartEventTest / ParallelStartEventTest: either message starts the exclusive one; the parallel one
starts only when both came, in one instance. Nobody starts such a process by hand, so its lane-less task goes to
the role map's default role (without one the deploy is refused, naming the task).
"""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from engine.process.models import HumanTask, ProcessInstance

from .api_fixtures import api, api_app  # noqa: F401

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_multi"
    targetNamespace="http://example.org/multi">
  <bpmn:message id="m1" name="multi_one" />
  <bpmn:message id="m2" name="multi_two" />
  <bpmn:process id="multi_start" name="多重开始" isExecutable="true">
    <bpmn:startEvent id="start" name="收到" parallelMultiple="{parallel}">
      <bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:messageEventDefinition id="d1" messageRef="m1" />
      <bpmn:messageEventDefinition id="d2" messageRef="m2" />
    </bpmn:startEvent>
    <bpmn:userTask id="any_task" name="处理"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="any_task" />
    <bpmn:sequenceFlow id="f2" sourceRef="any_task" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _deploy(api, parallel: bool, role_map: dict | None):
    data = {"file": (io.BytesIO(DIAGRAM.replace("{parallel}", str(parallel).lower()).encode()), "multi.bpmn")}
    if role_map is not None:
        data["role_map"] = json.dumps(role_map)
    return api.call("designer", "POST", "/definitions", content_type="multipart/form-data", data=data)


def _state(services):
    with services.uow() as uow:
        s = uow.session
        instances = s.scalars(select(ProcessInstance).order_by(ProcessInstance.id)).all()
        tasks = s.scalars(select(HumanTask.bpmn_id).where(HumanTask.state == "ready")).all()
        return [(i.id, i.status) for i in instances], tasks


def test_without_a_default_role_the_lane_less_task_after_a_message_only_start_is_refused(api):
    refused = _deploy(api, parallel=False, role_map=None)
    assert refused.status_code == 422
    assert "any_task" in json.dumps(refused.get_json()) and "no-candidate" in json.dumps(refused.get_json())


@pytest.mark.parametrize("second", ["multi_one", "multi_two"])
def test_either_message_starts_an_exclusive_multiple_start(api, services, second):
    assert _deploy(api, parallel=False, role_map={"*": "process_designer"}).status_code == 201
    sent = api.call("designer", "POST", "/messages", json={"name": second, "payload": {}})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["status"] == "started"
    [(instance_id, status)], tasks = _state(services)
    assert status == "running" and tasks == ["any_task"]


def test_a_parallel_multiple_start_waits_for_every_message_in_one_instance(api, services, world):
    assert _deploy(api, parallel=True, role_map={"*": "process_designer"}).status_code == 201
    first = api.call("designer", "POST", "/messages", json={"name": "multi_one", "payload": {"a": 1}})
    assert first.status_code == 200 and first.get_json()["status"] == "started", first.get_json()
    [instance_id] = first.get_json()["started_instance_ids"]
    assert _state(services) == ([(instance_id, "running")], [])  # still waiting at the start for multi_two

    second = api.call("designer", "POST", "/messages", json={"name": "multi_two", "payload": {"b": 2}})
    assert second.status_code == 200, second.get_json()
    assert (second.get_json()["status"], second.get_json()["delivered_instance_ids"]) == ("delivered", [instance_id])
    assert _state(services) == ([(instance_id, "running")], ["any_task"])

    # The instance has started: another multi_one starts a new instance (the first no longer waits for it).
    again = api.call("designer", "POST", "/messages", json={"name": "multi_one", "payload": {}})
    assert again.get_json()["status"] == "started"
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ProcessInstance)) == 2
        task = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()
    services.complete_task(task.id, world.users.designer, {})
    assert _state(services)[0][0] == (instance_id, "completed")
