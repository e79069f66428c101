"""Lint: each problem in a diagram gives exactly one finding naming its element, name, line and a fix."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.infra.config import DEFAULT_BPMN_DIR
from engine.process.diagrams import parse_xml_safely
from engine.process.findings import ERROR, WARNING, Finding
from engine.process.lint import CHECKS, LintContext, lint_bundle

FOREIGN = Path(__file__).resolve().parents[2] / ".." / "shared" / "foreign-bpmn"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://example.org/bpmn">
"""


def diagram(body: str, before: str = "", process_id: str = "p", name: str = "请假") -> str:
    """A one-process definitions document around body (flow nodes and flows)."""
    return (HEAD + before + f'  <bpmn:process id="{process_id}" name="{name}" isExecutable="true">\n' + body
            + "  </bpmn:process>\n</bpmn:definitions>\n")


def line_of(source: str, needle: str) -> int:
    """The 1-based line of the first line of source containing needle."""
    return next(n for n, text in enumerate(source.splitlines(), 1) if needle in text)


def lint(sources: dict[str, str], ctx: LintContext | None = None) -> list[Finding]:
    documents = {name: parse_xml_safely(text.encode(), name) for name, text in sources.items()}
    findings = lint_bundle(documents, ctx or LintContext())
    assert all(f.code in CHECKS for f in findings), findings
    return findings


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def flow(fid: str, src: str, dst: str, condition: str | None = None, name: str = "") -> str:
    label = f' name="{name}"' if name else ""
    if condition is None:
        return f'    <bpmn:sequenceFlow id="{fid}"{label} sourceRef="{src}" targetRef="{dst}" />\n'
    return (f'    <bpmn:sequenceFlow id="{fid}"{label} sourceRef="{src}" targetRef="{dst}">\n'
            f'      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>\n'
            "    </bpmn:sequenceFlow>\n")


def straight(task: str, ctx_flows: str = "") -> str:
    """start -> task (given as XML with id="t") -> end."""
    return ('    <bpmn:startEvent id="start" />\n' + task + '    <bpmn:endEvent id="end" />\n'
            + flow("f1", "start", "t") + flow("f2", "t", "end") + ctx_flows)


GOOD = straight('    <bpmn:scriptTask id="t" name="计算"><bpmn:script>days = 3\ntotal = days * 2</bpmn:script>'
                "</bpmn:scriptTask>\n")


def test_a_correct_diagram_has_no_findings():
    assert lint({"good.bpmn": diagram(GOOD)}) == []


def test_no_end_event_is_one_finding_on_the_process():
    src = diagram('    <bpmn:startEvent id="start" />\n    <bpmn:userTask id="t" name="填写" />\n'
                  + flow("f1", "start", "t"))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line, f.file) == (
        "no-end-event", "p", "请假", line_of(src, '<bpmn:process id="p"'), "a.bpmn")
    assert f.severity == ERROR and "end event" in f.fix


def test_an_unconnected_task_is_unreachable_but_only_warned_about():
    # A shape with no sequence flow at all never runs and blocks nothing (SpiffArena runs such diagrams, e.g.
    # multiinstance_with_subprocess_and_large_dataset's stray script task): a warning, not a refusal.
    src = diagram(GOOD + '    <bpmn:userTask id="orphan" name="孤立任务" />\n')
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line, f.severity) == (
        "unreachable", "orphan", "孤立任务", line_of(src, 'id="orphan"'), WARNING)


def test_a_stray_multi_instance_script_beside_a_subprocess_is_only_warned_about():
    body = ('    <bpmn:startEvent id="start" />\n'
            '    <bpmn:subProcess id="sub" name="子流程">\n'
            '      <bpmn:startEvent id="s_start" />\n'
            '      <bpmn:scriptTask id="s_t" name="加一"><bpmn:script>n = 1</bpmn:script></bpmn:scriptTask>\n'
            '      <bpmn:endEvent id="s_end" />\n'
            '      <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="s_t" />\n'
            '      <bpmn:sequenceFlow id="s2" sourceRef="s_t" targetRef="s_end" />\n'
            '    </bpmn:subProcess>\n'
            '    <bpmn:endEvent id="end" />\n'
            '    <bpmn:scriptTask id="stray">\n'
            '      <bpmn:multiInstanceLoopCharacteristics isSequential="true">\n'
            '        <bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>\n'
            '        <bpmn:inputDataItem id="item" name="item" />\n'
            '      </bpmn:multiInstanceLoopCharacteristics>\n'
            '      <bpmn:script>x = item</bpmn:script>\n'
            '    </bpmn:scriptTask>\n'
            + flow("f1", "start", "sub") + flow("f2", "sub", "end"))
    src = diagram(body)
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.severity) == ("unreachable", "stray", WARNING)
    assert "no sequence flow" in f.message


def test_an_unreachable_task_wired_to_the_end_is_refused():
    src = diagram(GOOD + '    <bpmn:userTask id="island" name="孤岛" />\n' + flow("f9", "island", "end"))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.severity) == ("unreachable", "island", ERROR)


def test_a_loop_without_exit_cannot_reach_the_end():
    body = ('    <bpmn:startEvent id="start" />\n'
            '    <bpmn:exclusiveGateway id="gw" name="要循环吗" default="f_end" />\n'
            '    <bpmn:userTask id="a" name="甲" />\n    <bpmn:userTask id="b" name="乙" />\n'
            '    <bpmn:endEvent id="end" />\n'
            + flow("f0", "start", "gw") + flow("f_end", "gw", "end") + flow("f_loop", "gw", "a", "again")
            + flow("f_ab", "a", "b") + flow("f_ba", "b", "a"))
    src = diagram(body)
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line) == ("no-path-to-end", "a", "甲", line_of(src, 'id="a"'))


def test_a_task_without_outgoing_flow_is_only_warned_about():
    body = ('    <bpmn:startEvent id="start" />\n    <bpmn:parallelGateway id="split" />\n'
            '    <bpmn:userTask id="t" name="甲" />\n    <bpmn:userTask id="dangling" name="乙" />\n'
            '    <bpmn:endEvent id="end" />\n'
            + flow("f0", "start", "split") + flow("f1", "split", "t") + flow("f2", "split", "dangling")
            + flow("f3", "t", "end"))
    f = only(lint({"a.bpmn": diagram(body)}))
    assert (f.code, f.element_id, f.severity) == ("implicit-end", "dangling", WARNING)


def _gateway(default: str | None, conditions: tuple) -> str:
    attr = f' default="{default}"' if default else ""
    return diagram('    <bpmn:startEvent id="start" />\n'
                   f'    <bpmn:exclusiveGateway id="gw" name="金额大吗"{attr} />\n'
                   '    <bpmn:endEvent id="big" />\n    <bpmn:endEvent id="small" />\n'
                   + flow("f0", "start", "gw") + flow("to_big", "gw", "big", conditions[0], name="大")
                   + flow("to_small", "gw", "small", conditions[1], name="小"))


def test_gateway_flows_without_conditions_are_one_finding_on_the_gateway():
    src = _gateway(None, (None, None))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line) == (
        "gateway-condition", "gw", "金额大吗", line_of(src, 'id="gw"'))
    assert "to_big, to_small" in f.message and "default" in f.fix


def test_gateway_default_needs_no_condition_but_the_others_do():
    assert lint({"a.bpmn": _gateway("to_small", ("amount &gt; 1000", None))}) == []
    f = only(lint({"a.bpmn": _gateway("to_small", (None, None))}))
    assert f.code == "gateway-condition" and "to_big " in f.message and "to_small" not in f.message


def test_inclusive_gateway_needs_conditions_too():
    src = _gateway(None, ("a", None)).replace("exclusiveGateway", "inclusiveGateway")
    assert "to_small" in only(lint({"a.bpmn": src})).message


def test_print_in_a_script_is_refused_at_lint():
    src = diagram(straight('    <bpmn:scriptTask id="t" name="打印">\n'
                           "      <bpmn:script>x = 1\nprint(x)</bpmn:script>\n    </bpmn:scriptTask>\n"))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line) == ("print", "t", "打印", line_of(src, "<bpmn:script>"))


@pytest.mark.parametrize("script, code", [
    ("import os", "bad-script"),
    ("x = (", "bad-script"),
    ("y = _secret", "bad-script"),
])
def test_scripts_that_the_restricted_evaluator_refuses(script, code):
    src = diagram(straight(f'    <bpmn:scriptTask id="t" name="脚本"><bpmn:script>{script}</bpmn:script>'
                           "</bpmn:scriptTask>\n"))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id) == (code, "t")


@pytest.mark.parametrize("script, name, line", [
    ("x = 1\nusers = open('/etc/passwd').read()", "open", 2),
    ("home = os.environ['HOME']", "os", 1),
    ("x = vars()", "vars", 1),
    ("answer = input('?')", "input", 1),
    ("found = 'hey' in locals()", "locals", 1),
    ("v = getattr(x, 'y')", "getattr", 1),
    ("sys.exit(1)", "sys", 1),
])
def test_dangerous_builtins_and_modules_are_refused_at_lint_with_their_line(script, name, line):
    src = diagram(straight(f'    <bpmn:scriptTask id="t" name="读文件">\n      <bpmn:script>{script}</bpmn:script>'
                           "</bpmn:scriptTask>\n"))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name) == ("dangerous-name", "t", "读文件")
    assert repr(name) in f.message and f.line == line_of(src, "<bpmn:script>") + line - 1


def test_a_name_the_script_defines_itself_or_an_attribute_of_that_name_is_not_dangerous():
    script = ("def input(v):\n    return v\nvars = [1]\nn = input(len(vars))\nos = {'a': 1}\nk = os.keys()\n"
              "z = data.open")
    src = diagram(straight(f'    <bpmn:scriptTask id="t" name="脚本"><bpmn:script>{script}</bpmn:script>'
                           "</bpmn:scriptTask>\n"))
    assert lint({"a.bpmn": src}) == []


def test_a_dangerous_call_in_a_condition_is_refused_too():
    src = _gateway("to_small", ("open('x') is None", None))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id) == ("dangerous-name", "to_big")


def test_an_operator_left_on_a_script_task_is_only_a_warning():
    task = ('    <bpmn:scriptTask id="t" name="脚本">\n      <bpmn:extensionElements>\n'
            '        <spiffworkflow:serviceTaskOperator id="http/GetRequestV2" resultVariable="r" />\n'
            "      </bpmn:extensionElements>\n      <bpmn:script>done = True</bpmn:script>\n    </bpmn:scriptTask>\n")
    src = diagram(straight(task))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.severity, f.line) == (
        "ignored-operator", "t", WARNING, line_of(src, "serviceTaskOperator"))
    assert "'http/GetRequestV2'" in f.message


def test_pre_and_post_scripts_are_compiled_too():
    task = ('    <bpmn:userTask id="t" name="填写">\n      <bpmn:extensionElements>\n'
            "        <spiffworkflow:preScript>import os</spiffworkflow:preScript>\n"
            "        <spiffworkflow:postScript>done = True</spiffworkflow:postScript>\n"
            "      </bpmn:extensionElements>\n    </bpmn:userTask>\n")
    src = diagram(straight(task))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.line) == ("bad-script", "t", line_of(src, "preScript"))


def test_groovy_scripts_are_refused():
    src = diagram(straight('    <bpmn:scriptTask id="t" name="G" scriptFormat="groovy">'
                           "<bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>\n"))
    assert only(lint({"a.bpmn": src})).code == "script-language"


def test_a_condition_that_does_not_compile_and_juel_left_over():
    bad = lint({"a.bpmn": _gateway("to_small", ("amount &gt;", None))})
    assert only(bad).code == "bad-expression" and only(bad).element_id == "to_big"
    src = _gateway("to_small", ("${amount &gt; 1000}", None))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name) == ("juel", "to_big", "大")
    assert f.line == line_of(src, "${amount") and "Python expression" in f.fix


SERVICE = ('    <bpmn:serviceTask id="t" name="调用接口">\n      <bpmn:extensionElements>\n'
           '        <spiffworkflow:serviceTaskOperator id="{op}" resultVariable="r" />\n'
           "      </bpmn:extensionElements>\n    </bpmn:serviceTask>\n")


def test_a_service_task_must_name_a_registered_operator():
    src = diagram(straight(SERVICE.replace("{op}", "http/GetRequest")))
    f = only(lint({"a.bpmn": src}, LintContext(operators={"notify", "http_post"})))
    assert (f.code, f.element_id, f.element_name, f.line) == (
        "unknown-operator", "t", "调用接口", line_of(src, "serviceTaskOperator"))
    assert "http_post, notify" in f.fix
    assert lint({"a.bpmn": diagram(straight(SERVICE.replace("{op}", "notify")))},
                LintContext(operators={"notify"})) == []


@pytest.mark.parametrize("attrs", ['camunda:class="org.example.Charge"', 'camunda:expression="${bean.run()}"',
                                   'camunda:delegateExpression="${charge}"', 'camunda:type="external" camunda:topic="x"'])
def test_camunda_java_implementations_are_refused(attrs):
    src = diagram(straight(f'    <bpmn:serviceTask id="t" name="扣款" {attrs} />\n'))
    f = only(lint({"a.bpmn": src}, LintContext(operators={"notify"})))
    assert (f.code, f.element_id, f.line) == ("java-delegate", "t", line_of(src, 'id="t"'))


def _timer(kind: str, text: str) -> str:
    return diagram('    <bpmn:startEvent id="start" />\n'
                   '    <bpmn:intermediateCatchEvent id="wait" name="等待">\n'
                   f'      <bpmn:timerEventDefinition id="td"><bpmn:{kind}>{text}</bpmn:{kind}>'
                   "</bpmn:timerEventDefinition>\n    </bpmn:intermediateCatchEvent>\n"
                   '    <bpmn:endEvent id="end" />\n' + flow("f1", "start", "wait") + flow("f2", "wait", "end"))


@pytest.mark.parametrize("kind, text", [
    ("timeDuration", '"PT4H"'), ("timeDuration", "'P14D'"), ("timeDuration", "wait_for"),
    ("timeDate", '"2026-12-24T09:00:00+08:00"'), ("timeDate", 'deadline + "T18:00:00+08:00"'),
    ("timeCycle", '"R3/PT1H"'), ("timeCycle", '"R/2026-01-01T08:00:00+08:00/P1D"'),
])
def test_good_timers(kind, text):
    assert lint({"a.bpmn": _timer(kind, text)}) == []


@pytest.mark.parametrize("kind, text, says", [
    ("timeDuration", '"PT4X"', "not a valid ISO 8601 duration"),
    ("timeDate", '"24.12.2026"', "not a valid ISO 8601 date"),
    ("timeCycle", '"every day"', "not a valid ISO 8601 cycle"),
    ("timeDuration", "PT4H", "not quoted"),
    ("timeCycle", "0/5 0/1 * 1/1 * ?", "cron"),
    ("timeDuration", "", "empty"),
])
def test_bad_timers(kind, text, says):
    src = _timer(kind, text)
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line) == ("bad-timer", "wait", "等待", line_of(src, f"<bpmn:{kind}"))
    assert says in f.message


def _form_task(ref: str) -> str:
    return ('    <bpmn:userTask id="t" name="填写">\n      <bpmn:extensionElements>\n'
            "        <spiffworkflow:properties>\n"
            f'          <spiffworkflow:property name="formJsonSchemaFilename" value="{ref}" />\n'
            "        </spiffworkflow:properties>\n      </bpmn:extensionElements>\n    </bpmn:userTask>\n")


def test_a_form_must_be_in_the_bundle():
    src = diagram(straight(_form_task("forms/leave.json")))
    f = only(lint({"a.bpmn": src}, LintContext(forms={"forms/other.json"})))
    assert (f.code, f.element_id, f.element_name, f.line) == (
        "missing-form", "t", "填写", line_of(src, "formJsonSchemaFilename"))
    assert lint({"a.bpmn": src}, LintContext(forms={"forms/leave.json"})) == []


def test_camunda_form_keys():
    json_key = diagram(straight('    <bpmn:userTask id="t" name="填写" camunda:formKey="leave.json" />\n'))
    assert only(lint({"a.bpmn": json_key})).code == "missing-form"
    assert lint({"a.bpmn": json_key}, LintContext(forms={"leave.json"})) == []
    label = diagram(straight('    <bpmn:userTask id="t" name="填写" camunda:formKey="LeaveForm" />\n'))
    assert lint({"a.bpmn": label}) == []  # a label; the form is its camunda:formData
    html = diagram(straight('    <bpmn:userTask id="t" name="填写" camunda:formKey="embedded:app:forms/a.html" />\n'))
    assert only(lint({"a.bpmn": html})).severity == WARNING


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="D" namespace="http://x">
  <decision id="leave_days" name="天数"><decisionTable id="dt"><input id="i"><inputExpression id="ie">
    <text>kind</text></inputExpression></input><output id="o" name="days" /></decisionTable></decision>
</definitions>
"""


def test_a_business_rule_task_needs_a_known_decision():
    spiff = diagram(straight('    <bpmn:businessRuleTask id="t" name="查表">\n      <bpmn:extensionElements>\n'
                             "        <spiffworkflow:calledDecisionId>leave_days</spiffworkflow:calledDecisionId>\n"
                             "      </bpmn:extensionElements>\n    </bpmn:businessRuleTask>\n"))
    f = only(lint({"a.bpmn": spiff}))
    assert (f.code, f.element_id, f.element_name, f.line) == (
        "missing-decision", "t", "查表", line_of(spiff, "calledDecisionId"))
    assert lint({"a.bpmn": spiff, "days.dmn": DMN}) == []
    assert lint({"a.bpmn": spiff}, LintContext(dmn_ids={"leave_days"})) == []
    camunda = diagram(straight('    <bpmn:businessRuleTask id="t" name="查表" camunda:decisionRef="nope" />\n'))
    assert only(lint({"a.bpmn": camunda, "days.dmn": DMN})).code == "missing-decision"


def test_a_call_activity_needs_a_callee_in_the_bundle_or_deployed():
    caller = diagram(straight('    <bpmn:callActivity id="t" name="调子流程" calledElement="approve" />\n'))
    f = only(lint({"a.bpmn": caller}))
    assert (f.code, f.element_id, f.element_name, f.line) == (
        "missing-callee", "t", "调子流程", line_of(caller, 'id="t"'))
    assert lint({"a.bpmn": caller}, LintContext(callable_processes={"approve"})) == []
    callee = diagram(GOOD, process_id="approve", name="审批")
    assert lint({"a.bpmn": caller, "b.bpmn": callee}) == []


MESSAGE = '  <bpmn:message id="msg_done" name="done" />\n'


def _thrower() -> str:
    return diagram('    <bpmn:startEvent id="start" />\n'
                   '    <bpmn:endEvent id="end" name="通知完成">'
                   '<bpmn:messageEventDefinition id="md" messageRef="msg_done" /></bpmn:endEvent>\n'
                   + flow("f1", "start", "end"), before=MESSAGE)


def test_a_thrown_message_needs_a_catcher():
    src = _thrower()
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line) == (
        "uncaught-message", "end", "通知完成", line_of(src, 'id="end"'))
    assert lint({"a.bpmn": src}, LintContext(caught_messages={"done"})) == []
    catcher = diagram('    <bpmn:startEvent id="start"><bpmn:messageEventDefinition id="m2" messageRef="msg_done" />'
                      "</bpmn:startEvent>\n" + '    <bpmn:endEvent id="end" />\n' + flow("f1", "start", "end"),
                      before=MESSAGE, process_id="listener")
    assert lint({"a.bpmn": src, "b.bpmn": catcher}) == []


def test_a_message_ref_must_name_a_message():
    src = _thrower().replace(MESSAGE, "")
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id) == ("unknown-message", "end")


def test_boundary_events_event_subprocesses_and_event_gateways_are_entries():
    body = ('    <bpmn:startEvent id="start" />\n'
            '    <bpmn:userTask id="t" name="审批" />\n'
            '    <bpmn:boundaryEvent id="late" attachedToRef="t"><bpmn:timerEventDefinition id="td1">'
            '<bpmn:timeDuration>"P3D"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>\n'
            '    <bpmn:userTask id="chase" name="催办" />\n'
            '    <bpmn:eventBasedGateway id="ebg" />\n'
            '    <bpmn:intermediateCatchEvent id="answer"><bpmn:messageEventDefinition id="md1" messageRef="msg_done" />'
            "</bpmn:intermediateCatchEvent>\n"
            '    <bpmn:intermediateCatchEvent id="timeout"><bpmn:timerEventDefinition id="td2">'
            '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n'
            '    <bpmn:endEvent id="end" />\n'
            '    <bpmn:subProcess id="on_cancel" triggeredByEvent="true">\n'
            '      <bpmn:startEvent id="cancelled"><bpmn:messageEventDefinition id="md2" messageRef="msg_done" />'
            "</bpmn:startEvent>\n"
            '      <bpmn:scriptTask id="clean"><bpmn:script>state = "cancelled"</bpmn:script></bpmn:scriptTask>\n'
            '      <bpmn:endEvent id="cancel_end" />\n'
            + flow("g1", "cancelled", "clean") + flow("g2", "clean", "cancel_end")
            + "    </bpmn:subProcess>\n"
            + flow("f1", "start", "t") + flow("f2", "t", "ebg") + flow("f3", "late", "chase")
            + flow("f4", "chase", "end") + flow("f5", "ebg", "answer") + flow("f6", "ebg", "timeout")
            + flow("f7", "answer", "end") + flow("f8", "timeout", "end"))
    assert lint({"a.bpmn": diagram(body, before=MESSAGE)}) == []


def test_an_embedded_subprocess_is_checked_on_its_own():
    body = ('    <bpmn:startEvent id="start" />\n'
            '    <bpmn:subProcess id="sub" name="内层">\n'
            '      <bpmn:startEvent id="s2" />\n      <bpmn:userTask id="inner" name="内层任务" />\n'
            + flow("g1", "s2", "inner") + "    </bpmn:subProcess>\n"
            '    <bpmn:endEvent id="end" />\n' + flow("f1", "start", "sub") + flow("f2", "sub", "end"))
    src = diagram(body)
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line) == ("no-end-event", "sub", "内层", line_of(src, 'id="sub"'))


def test_link_events_are_followed_for_reachability_and_refused():
    body = ('    <bpmn:startEvent id="start" />\n'
            '    <bpmn:intermediateThrowEvent id="go" name="跳转"><bpmn:linkEventDefinition id="l1" name="A" />'
            "</bpmn:intermediateThrowEvent>\n"
            '    <bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition id="l2" name="A" />'
            "</bpmn:intermediateCatchEvent>\n"
            '    <bpmn:userTask id="t" />\n    <bpmn:endEvent id="end" />\n'
            + flow("f1", "start", "go") + flow("f2", "land", "t") + flow("f3", "t", "end"))
    f = only(lint({"a.bpmn": diagram(body)}))  # no "unreachable" for land or t
    assert (f.code, f.element_id, f.element_name) == ("link-event", "go", "跳转")


def test_xsd_errors_carry_their_line_and_unknown_attributes_are_warnings():
    src = diagram(GOOD.replace('<bpmn:endEvent id="end" />', '<bpmn:endEvent id="end"><bpmn:bogus /></bpmn:endEvent>'))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.severity, f.line, f.element_id) == ("xsd", ERROR, line_of(src, "bpmn:bogus"), "end")
    src = diagram(GOOD.replace('<bpmn:endEvent id="end" />', '<bpmn:endEvent id="end" messageRef="m" />'))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.severity, f.line) == ("xsd", WARNING, line_of(src, 'messageRef="m"'))


def test_a_non_executable_pool_is_not_checked_beyond_the_schema():
    src = diagram('    <bpmn:userTask id="t" />\n').replace('isExecutable="true"', 'isExecutable="false"')
    assert lint({"a.bpmn": src}) == []


def test_a_document_that_is_not_bpmn_is_a_finding():
    f = only(lint({"a.bpmn": "<html><body /></html>"}))
    assert f.code == "not-a-diagram" and f.file == "a.bpmn"


def test_lint_does_not_change_the_documents():
    text = diagram(GOOD)
    root = parse_xml_safely(text.encode())
    before = etree.tostring(root)
    lint_bundle({"a.bpmn": root}, LintContext())
    assert etree.tostring(root) == before


def test_every_check_has_a_one_line_description():
    assert all(isinstance(v, str) and v and "\n" not in v for v in CHECKS.values())
    assert {"xsd", "unreachable", "no-end-event", "gateway-condition", "print", "unknown-operator", "bad-timer",
            "missing-form", "missing-decision", "missing-callee", "uncaught-message"} <= set(CHECKS)


# --- real diagrams ----------------------------------------------------------------------------------------------

def _bundle(folder: Path) -> tuple[dict, LintContext]:
    """A folder as a bundle: every .bpmn/.dmn parsed, every .json a form, names relative to the folder."""
    documents, forms = {}, set()
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.suffix in (".bpmn", ".dmn"):
            documents[name] = parse_xml_safely(path.read_bytes(), name)
        elif path.suffix == ".json":
            forms.add(name)
    return documents, LintContext(forms=forms)


def test_every_shipped_diagram_gets_no_error_finding():
    documents, ctx = _bundle(Path(DEFAULT_BPMN_DIR))
    assert len([n for n in documents if n.endswith(".bpmn")]) >= 4
    errors = [str(f) for f in lint_bundle(documents, ctx) if f.severity == ERROR]
    assert errors == []


def test_the_shipped_bundle_is_really_checked():
    documents, ctx = _bundle(Path(DEFAULT_BPMN_DIR))
    ctx.forms.discard("forms/patrol_check.json")
    missing = [f for f in lint_bundle(documents, ctx) if f.code == "missing-form"]
    assert {f.element_id for f in missing} == {"patrol_check", "security_check"}


# Valid foreign diagrams (each folder one bundle) covering boundary events, event subprocesses, messages across
# pools, timers, call activities, DMN, lanes, multi-instance, loops, data objects, pre/post scripts.
FOREIGN_CLEAN_FOLDERS = [
    "spiff-arena/boundary_event_reset", "spiff-arena/call_activity_nested", "spiff-arena/call-activity-to-human-task",
    "spiff-arena/error", "spiff-arena/message_send_two_conversations", "spiff-arena/message-start-event-with-form",
    "spiff-arena/multiinstance_human_task_with_timer", "spiff-arena/loopback_to_subprocess",
    "spiff-arena/simple_form", "spiff-arena/terminate_end_event", "spiff-arena/timer_intermediate_catch_event",
    "spiff-arena/dynamic_enum_select_fields", "spiff-arena/signal_event_extensions", "spiff-arena/data_stores",
]
FOREIGN_CLEAN_FILES = {
    "spiffworkflow/bpmn/data": ["boundary.bpmn", "boundary_event_split.bpmn", "correlation.bpmn",
                                "exclusive_gateway_no_default.bpmn", "multiple-start-parallel.bpmn",
                                "reset_with_boundary_event.bpmn", "timer-date-start.bpmn", "timer.bpmn",
                                "call_activity_call_activity.bpmn", "return_to_event.bpmn"],
    "spiffworkflow/spiff/data": ["prescript_postscript.bpmn", "receive_correlations.bpmn", "spiff_multiinstance.bpmn"],
    "spiffworkflow/camunda/data": ["subWorkflowComplex.bpmn", "token_trial_parallel_matrix.bpmn", "random_fact.bpmn"],
}


def _foreign() -> Path:
    if not FOREIGN.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: foreign diagrams not found at {FOREIGN.resolve()} (../shared/foreign-bpmn)")
    return FOREIGN


@pytest.mark.parametrize("folder", FOREIGN_CLEAN_FOLDERS)
def test_valid_foreign_bundles_get_no_findings(folder):
    documents, ctx = _bundle(_foreign() / folder)
    assert [str(f) for f in lint_bundle(documents, ctx)] == []


@pytest.mark.parametrize("folder", sorted(FOREIGN_CLEAN_FILES))
def test_valid_foreign_files_get_no_findings(folder):
    documents, ctx = _bundle(_foreign() / folder)
    findings = lint_bundle(documents, ctx)
    assert [str(f) for f in findings if f.file in FOREIGN_CLEAN_FILES[folder]] == []


def test_foreign_diagrams_meant_to_be_refused_are_refused():
    documents, ctx = _bundle(_foreign() / "spiff-arena" / "dangerous-scripts")
    findings = lint_bundle(documents, ctx)
    assert {f.code for f in findings} == {"bad-script", "dangerous-name"}
    # read_etc_passwd compiles (no import): its open() and os.environ are named, with their lines
    assert sorted((f.file, f.element_id, f.line, f.message.split("'")[1]) for f in findings
                  if f.code == "dangerous-name") == [("read_etc_passwd.bpmn", "read_etc_passwd", 15, "open"),
                                                     ("read_etc_passwd.bpmn", "read_etc_passwd", 17, "os")]
    documents, ctx = _bundle(_foreign() / "spiffworkflow" / "bpmn" / "data")
    by_file = {}
    for f in lint_bundle(documents, ctx):
        by_file.setdefault(f.file, set()).add(f.code)
    assert "print" in by_file["timer-cycle.bpmn"]
    assert "missing-callee" in by_file["nested_call_activity.bpmn"]  # calls 'is_this_missing'
    assert "xsd" in by_file["data_object_invalid.bpmn"]


def test_loop_and_conditional_event_expressions_are_compiled():
    task = ('    <bpmn:userTask id="t" name="多人">\n      <bpmn:multiInstanceLoopCharacteristics>\n'
            "        <bpmn:loopCardinality>3</bpmn:loopCardinality>\n"
            "        <bpmn:completionCondition>done ==</bpmn:completionCondition>\n"
            "      </bpmn:multiInstanceLoopCharacteristics>\n    </bpmn:userTask>\n")
    src = diagram(straight(task))
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.line) == ("bad-expression", "t", line_of(src, "completionCondition"))
    body = ('    <bpmn:startEvent id="start" />\n    <bpmn:intermediateCatchEvent id="until" name="条件">'
            '<bpmn:conditionalEventDefinition id="cd"><bpmn:condition xsi:type="bpmn:tFormalExpression">'
            "${ready}</bpmn:condition></bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>\n"
            '    <bpmn:endEvent id="end" />\n' + flow("f1", "start", "until") + flow("f2", "until", "end"))
    f = only(lint({"a.bpmn": diagram(body)}))
    assert (f.code, f.element_id, f.element_name) == ("juel", "until", "条件")


def test_the_readme_names_every_check():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert [code for code in CHECKS if f"`{code}`" not in readme] == []


def test_an_event_gateway_must_lead_to_events():
    body = ('    <bpmn:startEvent id="start" />\n    <bpmn:eventBasedGateway id="ebg" name="等回复" />\n'
            '    <bpmn:userTask id="t" />\n'
            '    <bpmn:intermediateCatchEvent id="timeout"><bpmn:timerEventDefinition id="td">'
            '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n'
            '    <bpmn:endEvent id="end" />\n' + flow("f1", "start", "ebg") + flow("f2", "ebg", "t")
            + flow("f3", "ebg", "timeout") + flow("f4", "t", "end") + flow("f5", "timeout", "end"))
    src = diagram(body)
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.element_name, f.line) == (
        "event-gateway-target", "ebg", "等回复", line_of(src, 'id="ebg"'))
    assert "leads to t:" in f.message


def test_a_message_to_an_outside_pool_needs_no_catcher():
    collaboration = ('  <bpmn:collaboration id="c">\n    <bpmn:participant id="us" processRef="p" />\n'
                     '    <bpmn:participant id="bank" name="银行" />\n'
                     '    <bpmn:messageFlow id="mf" sourceRef="end" targetRef="bank" />\n  </bpmn:collaboration>\n')
    assert lint({"a.bpmn": _thrower().replace(MESSAGE, MESSAGE + collaboration)}) == []


def test_a_repeated_multi_instance_data_item_id_is_only_warned_about():
    # SpiffWorkflow reads a data item by its name; a copied task repeats its id (the XSD's xs:ID says no).
    def mi(tid: str) -> str:
        return (f'    <bpmn:scriptTask id="{tid}" name="逐个">\n'
                '      <bpmn:multiInstanceLoopCharacteristics isSequential="true">\n'
                '        <bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>\n'
                '        <bpmn:inputDataItem id="item" name="item" />\n'
                '      </bpmn:multiInstanceLoopCharacteristics>\n'
                '      <bpmn:script>x = item</bpmn:script>\n    </bpmn:scriptTask>\n')
    body = ('    <bpmn:startEvent id="start" />\n' + mi("a") + mi("b") + '    <bpmn:endEvent id="end" />\n'
            + flow("f1", "start", "a") + flow("f2", "a", "b") + flow("f3", "b", "end"))
    src = diagram(body)
    f = only(lint({"a.bpmn": src}))
    assert (f.code, f.element_id, f.severity) == ("xsd", "b", WARNING)
    assert "xs:ID" in f.message and "unique id" in f.fix


def test_a_repeated_flow_node_id_is_still_refused():
    body = ('    <bpmn:startEvent id="start" />\n    <bpmn:userTask id="t" name="甲" />\n'
            '    <bpmn:userTask id="t" name="乙" />\n    <bpmn:endEvent id="end" />\n'
            + flow("f1", "start", "t") + flow("f2", "t", "end"))
    findings = lint({"a.bpmn": diagram(body)})
    assert any(f.code == "xsd" and f.severity == ERROR and "xs:ID" in f.message for f in findings), findings
