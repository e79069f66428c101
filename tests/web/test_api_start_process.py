"""Starting any deployed process by key: the API and the CLI, who may start it, and its tasks in the one inbox."""
from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.process.models import Event, ProcessInstance
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401

# A process nobody here shipped: a script, then one approval by the security office (its lane), then the end.
# `starters` fills candidateStarterRoles; None leaves the default (process designers and administrators).
DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_purchase"
    targetNamespace="http://example.org/purchase">
  <bpmn:process id="purchase_request" name="采购申请" isExecutable="true">
    {properties}
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_security" name="security_office">
        <bpmn:flowNodeRef>approve</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="price" name="计价"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>total = amount * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="approve" name="审批采购"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="price" />
    <bpmn:sequenceFlow id="f2" sourceRef="price" targetRef="approve" />
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def diagram(starters: str | None = None) -> bytes:
    properties = "" if starters is None else (
        '<bpmn:extensionElements><spiffworkflow:properties>'
        f'<spiffworkflow:property name="candidateStarterRoles" value="{starters}" />'
        '</spiffworkflow:properties></bpmn:extensionElements>')
    return DIAGRAM.format(properties=properties).encode("utf-8")


@pytest.fixture
def deploy(api):
    def _deploy(starters: str | None = None):
        got = api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(diagram(starters)), "purchase_request.bpmn")})
        assert got.status_code == 201, got.get_json()
        return got.get_json()
    return _deploy


def test_a_designer_starts_a_deployed_process_and_its_task_reaches_the_lanes_inbox(api, deploy, services):
    definition = deploy()
    started = api.call("designer", "POST", "/process-instances",
                       json={"key": "purchase_request", "data": {"amount": 21}, "business_key": "PO-7"})
    assert started.status_code == 201, started.get_json()
    body = started.get_json()
    assert (body["key"], body["version"], body["business_key"], body["status"]) == (
        "purchase_request", definition["version"], "PO-7", "running")

    # Not a hazard's task, and still in the security office's group inbox (the API inbox holds every process).
    groups = api.call("security", "GET", "/tasks?view=groups").get_json()["items"]
    mine = [t for t in groups if t["instance_id"] == body["id"]]
    assert [(t["bpmn_id"], t["hazard_id"]) for t in mine] == [("approve", None)]
    assert api.call("security", "POST", f"/tasks/{mine[0]['id']}/complete", json={"data": {}}).status_code == 200

    with services.uow() as uow:
        instance = uow.session.get(ProcessInstance, body["id"])
        assert instance.status == "completed"
        assert instance.definition.key == "purchase_request"
        started_events = uow.session.scalars(select(Event).where(Event.instance_id == body["id"],
                                                                 Event.kind == "ProcessStarted")).all()
        assert [e.data["business_key"] for e in started_events] == ["PO-7"]


def test_only_the_starter_roles_may_start_and_the_default_is_designers(api, deploy):
    deploy()
    refused = api.call("staff", "POST", "/process-instances", json={"key": "purchase_request", "data": {"amount": 1}})
    assert refused.status_code == 403
    assert "may not start" in refused.get_json()["message"]

    deploy(starters="department_staff, leader")
    allowed = api.call("staff", "POST", "/process-instances", json={"key": "purchase_request", "data": {"amount": 1}})
    assert allowed.status_code == 201, allowed.get_json()
    assert api.call("designer", "POST", "/process-instances",
                    json={"key": "purchase_request", "data": {"amount": 1}}).status_code == 403


def test_unknown_processes_reserved_business_keys_and_failing_starts_are_clear_errors(api, deploy, services):
    deploy()
    unknown = api.call("designer", "POST", "/process-instances", json={"key": "no_such_process"})
    assert unknown.status_code == 404
    assert "no_such_process" in unknown.get_json()["message"]

    reserved = api.call("designer", "POST", "/process-instances",
                        json={"key": "purchase_request", "data": {"amount": 1}, "business_key": "hazard:1"})
    assert reserved.status_code == 422
    assert reserved.get_json()["errors"][0]["field"] == "business_key"

    # The script needs `amount`: the start fails, nothing is stored.
    with services.uow() as uow:
        before = uow.session.query(ProcessInstance).count()
    failed = api.call("designer", "POST", "/process-instances", json={"key": "purchase_request", "data": {}})
    assert failed.status_code == 422
    assert "could not start" in failed.get_json()["message"]
    with services.uow() as uow:
        assert uow.session.query(ProcessInstance).count() == before

    assert api.call("designer", "POST", "/process-instances", json={"kee": "x"}).status_code == 422


def test_the_cli_starts_a_process_by_key(api, deploy, database_url, services):
    deploy()
    runner = CliRunner()
    ok = runner.invoke(main, ["--database-url", database_url, "start", "purchase_request", "--user", "designer",
                              "--data", json.dumps({"amount": 3}), "--business-key", "PO-9"])
    assert ok.exit_code == 0, ok.output
    assert "started instance" in ok.output and "purchase_request v1 (running)" in ok.output
    with services.uow() as uow:
        assert uow.session.scalars(select(ProcessInstance.business_key).where(
            ProcessInstance.business_key == "PO-9")).all() == ["PO-9"]

    refused = runner.invoke(main, ["--database-url", database_url, "start", "purchase_request", "--user", "staff"])
    assert refused.exit_code != 0
    assert "may not start" in refused.output
    bad = runner.invoke(main, ["--database-url", database_url, "start", "purchase_request", "--user", "designer",
                               "--data", "[1]"])
    assert bad.exit_code != 0 and "must be a JSON object" in bad.output
