"""The walk harness itself, on small inline diagrams whose lanes are role codes (so today's engine routes them):
it takes tasks from the right inboxes, claims group tasks, feeds repeated tasks their data in turn, and tells a
run, a refusal and a runtime failure apart. These run without ../shared/foreign-bpmn."""
from __future__ import annotations

import pytest

from .walk import Walker, make_template, walk

# A loop: the security office enters an amount until it is over 10, then a leader approves; a script doubles it.
LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_walk"
    targetNamespace="http://example.org/walk">
  <bpmn:process id="walk_loop" name="walk loop" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_security" name="security_office"><bpmn:flowNodeRef>enter</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="lane_leader" name="leader"><bpmn:flowNodeRef>approve</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="enter" name="enter"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f_again</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:exclusiveGateway id="big_enough" default="f_again"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f_again</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="double" name="double"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="approve" name="approve"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="enter" />
    <bpmn:sequenceFlow id="f2" sourceRef="enter" targetRef="big_enough" />
    <bpmn:sequenceFlow id="f3" sourceRef="big_enough" targetRef="double">
      <bpmn:conditionExpression>amount &gt; 10</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_again" sourceRef="big_enough" targetRef="enter" />
    <bpmn:sequenceFlow id="f4" sourceRef="double" targetRef="approve" />
    <bpmn:sequenceFlow id="f5" sourceRef="approve" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("walk-harness") / "template.sqlite3"
    make_template(path)
    return path


def _run(template, tmp_path, script: str, **entry):
    tmp_path.mkdir(parents=True, exist_ok=True)
    diagram = tmp_path / "walk_loop.bpmn"
    diagram.write_text(LOOP.format(script=script), encoding="utf-8")
    # An absolute path in `files` wins over the shared folder (pathlib joins it as is).
    entry = {"id": "harness", "files": [str(diagram)], "start": "walk_loop", "role_map": {}, "reason": "test",
             **entry}
    walker = Walker(template, tmp_path / "walk")
    try:
        return walk(entry, walker)
    finally:
        walker.close()


def test_the_walk_works_a_loop_from_two_inboxes_claiming_group_tasks(template, tmp_path):
    outcome = _run(template, tmp_path, "total = amount * 2", expect="run",
                   tasks={"enter": [{"amount": 3}, {"amount": 12}], "approve": {}})
    assert outcome.ok, outcome.summary()
    # The security office entered twice (the loop), then the leader approved; each from their own inbox.
    assert [s for s in outcome.steps if "@" in s] == ["enter@security 200", "enter@security 200",
                                                      "approve@leader 200"], outcome.steps


def test_a_runtime_failure_is_what_an_incident_entry_expects_and_a_fault_for_a_run_entry(template, tmp_path):
    tasks = {"enter": {"amount": 12}}
    failed = _run(template, tmp_path / "a", "total = amont * 2", expect="incident", match="amont", tasks=tasks)
    assert failed.ok and "task enter" in failed.reason, failed.summary()
    fault = _run(template, tmp_path / "b", "total = amont * 2", expect="run", tasks=tasks)
    assert not fault.ok and fault.stage == "task enter" and "amont" in fault.reason, fault.summary()


def test_a_refuse_entry_must_be_refused_at_deploy_for_its_reason(template, tmp_path):
    refused = _run(template, tmp_path / "a", "import os", expect="refuse", match="import")
    assert refused.ok and "refused as expected" in refused.reason, refused.summary()
    wrong = _run(template, tmp_path / "b", "import os", expect="refuse", match="DOCTYPE")
    assert not wrong.ok and "not for the expected reason" in wrong.reason, wrong.summary()
    deployed = _run(template, tmp_path / "c", "total = 1", expect="refuse", match="import")
    assert not deployed.ok and "should have been refused" in deployed.reason, deployed.summary()
