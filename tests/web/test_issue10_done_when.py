"""Issue 10's "Done when", through the REST API: broken diagrams are refused at deploy (element id, name and line)
leaving the live version as it was; a script that fails at run time is a 422 for the user and an incident on the
instance, and after an administrator fixes the data a retry moves the instance on."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.org import accounts, tokens
from engine.org.models import OrgNode
from engine.process.models import HumanTask
from tests.incident_diagrams import APPROVE, ENTER, PRICE, diagram
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_order"
    targetNamespace="http://example.org/order">{messages}
  <bpmn:process id="order" name="订单" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_main" name="{lane}">{refs}</bpmn:lane>
    </bpmn:laneSet>
"""
TAIL = """
  </bpmn:process>
</bpmn:definitions>
"""


def _order(body: str, tasks: list[str], lane: str = "security_office", messages: str = "") -> bytes:
    refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for t in tasks)
    return (HEAD.format(lane=lane, refs=refs, messages=messages) + body + TAIL).encode("utf-8")


GOOD = _order("""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="fill" name="填写订单"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill" />
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="end" />""", ["fill"])

NO_END = _order("""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="fill" name="填写订单"><bpmn:incoming>f1</bpmn:incoming></bpmn:userTask>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill" />""", ["fill"])

UNREACHABLE = _order("""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="fill" name="填写订单"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="orphan" name="无人到达"><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill" />
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="orphan" targetRef="end" />""", ["fill", "orphan"])

JUEL = _order("""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="adult" name="成年?" default="f3"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="fill" name="填写订单"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="adult" />
    <bpmn:sequenceFlow id="f2" name="成年" sourceRef="adult" targetRef="fill">
      <bpmn:conditionExpression>${customer.prop("age").numberValue() &gt; 18}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="adult" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="fill" targetRef="end" />""", ["fill"])

NO_CANDIDATE = _order("""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="msg_order_placed" /></bpmn:startEvent>
    <bpmn:userTask id="fill" name="填写订单"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill" />
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="end" />""", ["fill"], lane="仓库管理员",
                      messages='\n  <bpmn:message id="msg_order_placed" name="order_placed" />')


def _line_of(source: bytes, marker: str) -> int:
    """The line where `marker` first appears in the text the designer uploaded."""
    text = source.decode("utf-8")
    return text[:text.index(marker)].count("\n") + 1


def _deploy(api, source: bytes):
    return api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                    data={"file": (io.BytesIO(source), "order.bpmn")})


@pytest.mark.parametrize("source, element_id, element_name, at", [
    (NO_END, "order", "订单", 'id="order"'),  # the process has no end event
    (UNREACHABLE, "orphan", "无人到达", 'id="orphan"'),
    (JUEL, "f2", "成年", "${customer"),  # the line of the expression itself
    (NO_CANDIDATE, "fill", "填写订单", 'id="fill"'),
], ids=["no-end-event", "unreachable-task", "unreadable-juel", "no-candidate"])
def test_a_broken_diagram_is_refused_naming_the_element_and_the_live_version_stays(api, source, element_id,
                                                                                    element_name, at):
    assert _deploy(api, GOOD).status_code == 201
    live = api.call("designer", "GET", "/definitions").get_json()

    refused = _deploy(api, source)
    assert refused.status_code == 422, refused.get_json()
    body = refused.get_json()
    assert body["code"] == "invalid_diagram"
    errors = [f for f in body["errors"] if f["severity"] == "error"]
    named = [f for f in errors if f["element_id"] == element_id]
    assert named, errors
    finding = named[0]
    assert finding["element_name"] == element_name
    assert finding["file"] == "order.bpmn"
    assert finding["line"] == _line_of(source, at)
    assert finding["fix"]
    assert element_id in body["message"]

    # validate says the same, and the live version is the one deployed before
    report = api.call("designer", "POST", "/definitions/validate", content_type="multipart/form-data",
                      data={"file": (io.BytesIO(source), "order.bpmn")})
    assert report.status_code == 200 and report.get_json()["ok"] is False
    assert [f for f in report.get_json()["findings"] if f["severity"] == "error"] == errors
    assert api.call("designer", "GET", "/definitions").get_json() == live
    [order] = [d for d in live if d["key"] == "order"]
    assert order["version"] == 1


def test_a_script_failure_is_a_422_and_an_incident_and_a_fix_and_retry_move_the_instance_on(api, services,
                                                                                             world):
    with services.uow() as uow:
        school = uow.session.get(OrgNode, world.orgs.school)
        admin = accounts.add_user(uow.session, "admin1", "管理员", "pw-admin1", school, services.clock.now(),
                                  roles=[("admin", school)])
        uow.commit()
    admin_token = tokens.create_token(services, admin.id, "tests")[1]

    def as_admin(method, path, **kwargs):
        return api.client.open(f"/api/v1{path}", method=method,
                               headers={"Authorization": f"Bearer {admin_token}"}, **kwargs)

    source = diagram("purchase", "采购", [ENTER, PRICE, APPROVE], ["enter", "approve"])
    assert api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                    data={"file": (io.BytesIO(source), "purchase.bpmn")}).status_code == 201
    started = api.call("designer", "POST", "/process-instances", json={"key": "purchase", "data": {}})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["id"]
    with services.uow() as uow:
        enter = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()

    failed = api.call("security", "POST", f"/tasks/{enter.id}/complete", json={"data": {}})
    assert failed.status_code == 422
    assert "price" in failed.get_json()["message"] and "计价" in failed.get_json()["message"]
    assert "amount" in failed.get_json()["message"]
    with services.uow() as uow:  # the task stays open
        assert uow.session.get(HumanTask, enter.id).completed_at is None

    [incident] = api.call("designer", "GET", "/incidents").get_json()
    assert (incident["instance_id"], incident["element_id"], incident["element_name"]) == (
        instance_id, "price", "计价")
    instance = api.call("designer", "GET", f"/process-instances/{instance_id}").get_json()
    assert [i["id"] for i in instance["incidents"]] == [incident["id"]]

    assert as_admin("PATCH", f"/process-instances/{instance_id}/variables",
                    json={"variables": {"amount": 21}}).status_code == 200
    retried = as_admin("POST", f"/incidents/{incident['id']}/retry")
    assert retried.status_code == 200, retried.get_json()
    assert api.call("designer", "GET", "/incidents").get_json() == []

    with services.uow() as uow:
        open_now = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                               HumanTask.completed_at.is_(None))).all()
        assert [t.bpmn_id for t in open_now] == ["approve"]
    moved = api.call("designer", "GET", f"/process-instances/{instance_id}").get_json()
    assert moved["variables"]["total"] == 42 and moved["active"] == ["approve"]
    assert [i["status"] for i in moved["incidents"]] == ["resolved"]


ISSUE10_ROUTES = {
    "/definitions": {"get", "post"}, "/definitions/validate": {"post"}, "/definitions/{definition_id}/files": {"get"},
    "/definitions/{definition_id}/files/{name}": {"get"}, "/definitions/{definition_id}/migration": {"post"},
    "/messages": {"post"}, "/incidents": {"get"}, "/incidents/{incident_id}/retry": {"post"},
    "/process-instances": {"get", "post"}, "/process-instances/{instance_id}": {"get"},
    "/process-instances/{instance_id}/cancel": {"post"}, "/process-instances/{instance_id}/variables": {"patch"},
}
ISSUE10_COMMANDS = [("bpmn", "deploy"), ("bpmn", "lint"), ("bpmn", "validate"), ("bpmn", "migrate"), ("start",),
                    ("cancel",), ("tasks",), ("fire-timers",), ("timer-starts",), ("message", "send"),
                    ("messages", "list"), ("incidents", "list"), ("incidents", "retry")]


def test_the_openapi_document_readme_and_help_describe_every_route_and_command_of_issue_10(api):
    paths = api.client.get("/api/v1/openapi.json").get_json()["paths"]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for path, methods in ISSUE10_ROUTES.items():
        documented = paths[f"/api/v1{path}"]
        for method in methods:
            operation = documented[method]
            assert operation.get("summary") or operation.get("description"), (method, path)
        assert path.split("/{")[0] in readme, path
    for words in ISSUE10_COMMANDS:
        got = CliRunner().invoke(main, [*words, "--help"])
        assert got.exit_code == 0 and "Usage:" in got.output, words
        assert f"`rectiflow {' '.join(words)}" in readme or f"alias `{words[-1]}`" in readme \
            or f"/ `{' '.join(words)}" in readme or f"/ `{words[0]} {words[-1]}" in readme, words
    assert "--at" in CliRunner().invoke(main, ["fire-timers", "--help"]).output


TIMED = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_hourly"
    targetNamespace="http://example.org/timers">
  <bpmn:process id="hourly" name="\xe6\xaf\x8f\xe5\xb0\x8f\xe6\x97\xb6\xe7\xbb\x9f\xe8\xae\xa1" isExecutable="true">
    <bpmn:startEvent id="tick"><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:timerEventDefinition id="t1"><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:scriptTask id="count" name="count"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>total = visits + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="tick" targetRef="count" />
    <bpmn:sequenceFlow id="f2" sourceRef="count" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_failed_timer_start_is_an_incident_the_designer_sees_on_the_incidents_page(api, login, services, clock):
    assert api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                    data={"file": (io.BytesIO(TIMED), "hourly.bpmn")}).status_code == 201
    clock.advance(hours=1)
    sweep = services.fire_timer_starts()
    assert len(sweep.failed) == 1 and "visits" in sweep.failed[0]
    [incident] = api.call("designer", "GET", "/incidents").get_json()
    assert (incident["kind"], incident["element_id"], incident["variable"], incident["process_key"]) == (
        "start", "count", "visits", "hourly")
    assert incident["instance_id"] == sweep.started[0]
    page = login("designer").get("/incidents").get_data(as_text=True)
    assert f'data-testid="incident-{incident["id"]}"' in page and "每小时统计" in page and "visits" in page
