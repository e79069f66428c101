"""The SpiffWorkflow adapter: timers read the engine's clock, and every waiting timer's due time is found."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.infra.clock import FixedClock
from engine.infra.config import DEFAULT_BPMN_DIR
from engine.process.diagrams import parse_diagram
from engine.process.runtime import BpmnRuntime

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)

GATEWAY_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="http://rectiflow.test">
  <bpmn:message id="msg_done" name="done"/>
  <bpmn:process id="waits" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:eventBasedGateway id="wait"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:eventBasedGateway>
    <bpmn:intermediateCatchEvent id="two_days"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P2D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="got_done"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="msg_done"/></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="timed_out"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="finished"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="two_days"/>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="got_done"/>
    <bpmn:sequenceFlow id="f4" sourceRef="two_days" targetRef="timed_out"/>
    <bpmn:sequenceFlow id="f5" sourceRef="got_done" targetRef="finished"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow(runtime: BpmnRuntime, source: bytes) -> BpmnWorkflow:
    parsed = parse_diagram(source, DEFAULT_BPMN_DIR, "waits.bpmn")
    workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=runtime.script_engine)
    with runtime.engine_time():
        workflow.do_engine_steps()
    return workflow


def test_a_timer_behind_an_event_based_gateway_has_a_due_time_and_fires_on_the_engine_clock():
    clock = FixedClock(T0)
    runtime = BpmnRuntime(clock)
    workflow = _workflow(runtime, GATEWAY_DIAGRAM)
    assert runtime.next_timer_at(workflow) == T0 + timedelta(days=2)
    clock.advance(days=1)
    runtime.fire_timers(workflow)
    assert not workflow.completed
    clock.advance(days=1, seconds=1)
    runtime.fire_timers(workflow)
    assert workflow.completed
    assert [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.bpmn_id in ("timed_out", "finished")] == ["timed_out"]
    assert runtime.next_timer_at(workflow) is None


SCRIPTED_DATE_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="http://rectiflow.test">
  <bpmn:process id="waits" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="set_date"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>due = (datetime.now() + timedelta(hours=3)).isoformat()</bpmn:script></bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="at_due"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDate xsi:type="bpmn:tFormalExpression">due</bpmn:timeDate>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="set_date"/>
    <bpmn:sequenceFlow id="f2" sourceRef="set_date" targetRef="at_due"/>
    <bpmn:sequenceFlow id="f3" sourceRef="at_due" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_script_computes_a_timer_date_with_datetime_and_timedelta_on_the_engine_clock():
    clock = FixedClock(T0)
    runtime = BpmnRuntime(clock)
    workflow = _workflow(runtime, SCRIPTED_DATE_DIAGRAM)
    assert runtime.next_timer_at(workflow) == T0 + timedelta(hours=3)
    clock.advance(hours=3, seconds=1)
    runtime.fire_timers(workflow)
    assert workflow.completed


STANDARD_LOOP_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="http://rectiflow.test">
  <bpmn:process id="waits" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="pick"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:standardLoopCharacteristics>
        <bpmn:loopCondition xsi:type="bpmn:tFormalExpression">more == 'Y'</bpmn:loopCondition>
      </bpmn:standardLoopCharacteristics>
      <bpmn:startEvent id="s"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="choose"><bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="e"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="g1" sourceRef="s" targetRef="choose"/>
      <bpmn:sequenceFlow id="g2" sourceRef="choose" targetRef="e"/>
    </bpmn:subProcess>
    <bpmn:userTask id="after"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pick"/>
    <bpmn:sequenceFlow id="f2" sourceRef="pick" targetRef="after"/>
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_standard_loop_repeats_while_its_condition_holds_and_ends_through_stored_compacted_state():
    # SpiffWorkflow 3.2 repeats a standard loop WHILE loopCondition is true (BPMN's reading; the tutorial's
    # top_level_multi was written for the older exit-when-true one). Each step is stored and restored, so
    # compact_loop_history runs between iterations: the iterations are siblings under the loop task, not a chain,
    # so it leaves them (and the loop's count) alone.
    runtime = BpmnRuntime(FixedClock(T0))
    parsed = parse_diagram(STANDARD_LOOP_DIAGRAM, DEFAULT_BPMN_DIR, "waits.bpmn")
    definition = SimpleNamespace(id=-4711, spec_json=runtime.dump_spec(parsed.spec, parsed.subprocess_specs))
    workflow = _workflow(runtime, STANDARD_LOOP_DIAGRAM)
    answers = ["Y", "Y", "N"]
    for answer in answers:
        workflow = runtime.load(definition, runtime.dump(workflow))
        [task] = runtime.ready_user_tasks(workflow)
        assert task.task_spec.bpmn_id == "choose"
        runtime.run_task(workflow, task, {"more": answer})
    workflow = runtime.load(definition, runtime.dump(workflow))
    [task] = runtime.ready_user_tasks(workflow)
    assert task.task_spec.bpmn_id == "after"
    runtime.run_task(workflow, task, {})
    assert workflow.completed
