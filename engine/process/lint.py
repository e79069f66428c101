"""Lint a deployment bundle before SpiffWorkflow sees it: every problem a designer can fix, with its line.

`lint_bundle(documents, ctx)` takes the bundle's parsed XML roots (BPMN and DMN, from
`diagrams.parse_xml_safely`, after JUEL translation) and a `LintContext` of what exists outside the diagrams
(forms in the bundle, decision ids, deployed callees and message catchers, registered service-task operators)
and returns `Finding`s: nothing is raised, so validate can show all of them and deploy can refuse on errors.
The checks and their codes are listed in `CHECKS`. Pure functions over the roots: nothing here is modified.

Only executable processes (and the processes their call activities call) are checked beyond the XSD: a
non-executable pool in a collaboration is documentation and never runs.
"""
from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.infra.errors import ScriptNotAllowed
from engine.process.findings import ERROR, WARNING, Finding
from engine.process.scripting import compile_checked

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
)
NS = {"bpmn": BPMN_NS, "spiff": SPIFF_NS, "camunda": CAMUNDA_NS}

# Every check lint runs, by the code its findings carry (shown by `rectiflow bpmn lint --help` and the README).
CHECKS: dict[str, str] = {
    "xsd": "the file is valid against the BPMN 2.0 XML schema (an attribute the schema does not know is a warning)",
    "not-a-diagram": "every XML file in the bundle is a BPMN or DMN definitions document",
    "no-start-event": "every process and subprocess has a start event",
    "no-end-event": "every process and subprocess has an end event",
    "unreachable": "every flow node can be reached from a start event (boundary events from their host, link "
                   "catches from their throws)",
    "no-path-to-end": "every reachable flow node can reach an end event (no loop without an exit)",
    "implicit-end": "(warning) a task or gateway with no outgoing flow ends its path without an end event",
    "link-event": "no link events: SpiffWorkflow ends the path at a link throw event instead of jumping to its catch",
    "gateway-condition": "every outgoing flow of an exclusive or inclusive gateway has a condition, except its default",
    "event-gateway-target": "every outgoing flow of an event-based gateway leads to a catch event or receive task",
    "juel": "no Camunda JUEL (${...}) is left in an expression: it is written as a Python expression",
    "bad-expression": "conditions and other expressions compile in the restricted evaluator",
    "bad-script": "scripts (script tasks, pre- and post-scripts) compile in the restricted evaluator",
    "print": "scripts and expressions do not call print(): its output would go nowhere",
    "script-language": "scripts are Python (no Groovy, JavaScript or external script resources)",
    "dangerous-name": "scripts and expressions do not call open, eval, exec and the like, nor reach os, sys or "
                      "subprocess: the restricted evaluator has none of them, so the task would only fail at run time",
    "missing-form": "every form file a task or start event names (formJsonSchemaFilename, formUiSchemaFilename, "
                    "a camunda:formKey ending in .json) is in the bundle; HTML and Camunda forms are warned about",
    "missing-decision": "every business rule task names a decision (spiffworkflow:calledDecisionId or "
                        "camunda:decisionRef) found in the bundle's DMN or already deployed",
    "missing-callee": "every call activity names a process in the bundle or already deployed",
    "unknown-message": "every messageRef names a message defined in the same file",
    "uncaught-message": "every message thrown is caught by a start, catch, boundary event or receive task in the "
                        "bundle or in a deployed process (or flows to an external pool)",
    "unknown-operator": "every service task names a registered operator (spiffworkflow:serviceTaskOperator)",
    "ignored-operator": "a spiffworkflow:serviceTaskOperator on a task that is not a service task (a leftover "
                        "of a changed task type) is ignored: warned about",
    "java-delegate": "no Camunda Java delegate, expression, connector or external task implements a task",
    "bad-timer": "timer dates, durations and cycles are ISO 8601 strings or expressions that compile",
}

# Tasks on which a modeler may leave a serviceTaskOperator after changing the task's type.
OPERATOR_LEFTOVER_HOSTS = frozenset({"task", "userTask", "manualTask", "scriptTask", "sendTask", "receiveTask",
                                     "businessRuleTask", "callActivity"})

FLOW_NODES = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
})
SUBPROCESSES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
# SpiffWorkflow runs every script as Python whatever its scriptFormat says; these say it is something else.
FOREIGN_SCRIPT_FORMATS = frozenset({"groovy", "javascript", "js", "ecmascript", "nashorn", "graal.js", "juel",
                                    "ruby", "jruby", "jython", "application/javascript", "text/javascript"})
FORM_KEY_PREFIXES = ("embedded:deployment:", "embedded:app:", "camunda-forms:deployment:", "camunda-forms:app:",
                     "deployment:", "app:")
_JUEL = re.compile(r"[$#]\{")


@dataclass
class LintContext:
    """What exists outside the diagrams: bundle forms, decisions, callees and catchers (bundle + deployed)."""

    forms: set[str] = field(default_factory=set)
    dmn_ids: set[str] = field(default_factory=set)
    callable_processes: set[str] = field(default_factory=set)
    caught_messages: set[str] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)


@lru_cache(maxsize=1)
def _validator() -> BpmnValidator:
    return BpmnValidator()  # the XSD takes a moment to load; it never changes


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _ns(el) -> str:
    return etree.QName(el).namespace or "" if isinstance(el.tag, str) else ""


def _is_bpmn(el, *names: str) -> bool:
    return isinstance(el.tag, str) and _ns(el) == BPMN_NS and (not names or _local(el) in names)


def _text(el) -> str:
    return (el.text or "").strip() if el is not None else ""


def _children(el, *names: str) -> list:
    return [c for c in el if _is_bpmn(c, *names)]


_NAMED = FLOW_NODES | {"process", "sequenceFlow", "participant", "message", "collaboration", "messageFlow"}


def _carrier(el):
    """The element a finding names: el or its nearest ancestor that is a flow node, flow, process or message."""
    while el is not None and not (_is_bpmn(el) and _local(el) in _NAMED and el.get("id") is not None):
        el = el.getparent()
    return el


class _File:
    """Findings for one file: fills in the file name, element id, name and line."""

    def __init__(self, name: str):
        self.name = name
        self.findings: list[Finding] = []

    def add(self, code: str, el, message: str, fix: str, severity: str = ERROR, line: int | None = None) -> None:
        owner = _carrier(el) if el is not None else None
        self.findings.append(Finding(
            code=code, message=message, file=self.name,
            element_id=owner.get("id") if owner is not None else None,
            element_name=owner.get("name") if owner is not None else None,
            line=line or (el.sourceline if el is not None else None), fix=fix, severity=severity,
        ))


@dataclass
class _Known:
    forms: set[str]
    form_basenames: set[str]
    decisions: set[str]
    callees: set[str]
    caught: set[str]
    operators: set[str]


def lint_bundle(documents: dict[str, etree._Element], ctx: LintContext) -> list[Finding]:
    """Every finding for a bundle's parsed XML documents (BPMN and DMN), in file order then line order."""
    bpmn = {name: root for name, root in documents.items() if _is_bpmn(root, "definitions")}
    dmn = {name: root for name, root in documents.items() if _ns(root) in DMN_NAMESPACES}
    processes = {p.get("id") for root in bpmn.values() for p in _children(root, "process")}
    known = _Known(
        forms=set(ctx.forms),
        form_basenames={f.rsplit("/", 1)[-1] for f in ctx.forms},
        decisions=set(ctx.dmn_ids) | {d.get("id") for root in dmn.values() for d in root.iter("{*}decision")},
        callees=set(ctx.callable_processes) | processes,
        caught=set(ctx.caught_messages) | {m for root in bpmn.values() for m in _caught_messages(root)},
        operators=set(ctx.operators),
    )
    called = {c.get("calledElement") for root in bpmn.values() for c in root.iter(f"{{{BPMN_NS}}}callActivity")}
    findings: list[Finding] = []
    for name, root in documents.items():
        out = _File(name)
        if name in dmn:
            pass
        elif name not in bpmn:
            out.add("not-a-diagram", root, f"the root element <{_local(root)}> is neither BPMN nor DMN definitions",
                    "bundle only .bpmn files (BPMN 2.0 definitions) and .dmn files (DMN decisions)")
        else:
            _check_xsd(root, out)
            for process in _children(root, "process"):
                if process.get("isExecutable") == "true" or process.get("id") in called:
                    _check_process(root, process, out, known)
        findings.extend(sorted(out.findings, key=lambda f: f.line or 0))
    return findings


# --- XSD -------------------------------------------------------------------------------------------------------

def _check_xsd(root, out: _File) -> None:
    validator = _validator()
    tree = copy.deepcopy(root)  # the validator rewrites bpmn-js correlation expressions in place
    validator.preprocess(tree)
    if validator.validator.validate(tree):
        return
    at_line: dict[int, etree._Element] = {}
    for el in root.iter():
        if isinstance(el.tag, str):
            at_line.setdefault(el.sourceline, el)
    for error in validator.validator.error_log:
        # Modelers leave attributes the schema does not know (bpmn-js's messageRef on a start event, SpiffArena's
        # data store type); SpiffWorkflow ignores them, so they are worth a warning, not a refusal.
        unknown_attribute = "is not allowed" in error.message and ", attribute '" in error.message
        # A multi-instance input/output data item is read by its name, never by its id: a repeated or malformed
        # id there (SpiffArena's modeler copies it with the task) changes nothing at run time.
        el = at_line.get(error.line)
        data_item_id = ("'xs:ID'" in error.message and el is not None
                        and _is_bpmn(el, "inputDataItem", "outputDataItem"))
        out.add("xsd", el, f"not valid BPMN 2.0: {error.message}",
                "remove the attribute" if unknown_attribute else
                "give the data item a unique id" if data_item_id else
                "correct the element as the message says (a modeler such as bpmn.io writes valid BPMN)",
                severity=WARNING if unknown_attribute or data_item_id else ERROR, line=error.line)


# --- one process -------------------------------------------------------------------------------------------------

def _check_process(root, process, out: _File, known: _Known) -> None:
    messages = {m.get("id"): m.get("name") or m.get("id") for m in _children(root, "message")}
    for scope in [process, *(el for el in process.iter() if _is_bpmn(el, *SUBPROCESSES))]:
        _check_flow(scope, out)
    for el in process.iter():
        if not isinstance(el.tag, str):
            continue
        local, ns = _local(el), _ns(el)
        if ns == BPMN_NS:
            if local in ("exclusiveGateway", "inclusiveGateway"):
                _check_gateway(el, out)
            elif local == "eventBasedGateway":
                _check_event_gateway(el, out)
            elif local == "conditionExpression":
                _check_expression(el, out, "condition")
            elif local in ("completionCondition", "loopCardinality", "loopCondition") or (
                    local == "condition" and _local(el.getparent()) == "conditionalEventDefinition"):
                _check_expression(el, out, local)
            elif local == "scriptTask":
                _check_script_task(el, out)
            elif local in ("timeDate", "timeDuration", "timeCycle"):
                _check_timer(el, out)
            elif local == "businessRuleTask":
                _check_decision(el, out, known)
            elif local == "callActivity":
                _check_callee(el, out, known)
            elif local == "serviceTask":
                _check_service_task(el, out, known)
            elif local in ("userTask", "manualTask", "startEvent"):
                _check_forms(el, out, known)
            if local in OPERATOR_LEFTOVER_HOSTS:
                _check_ignored_operator(el, out)
            if local in ("sendTask", "receiveTask", "messageEventDefinition") and el.get("messageRef") is not None:
                _check_message_ref(el, process, messages, out, known)
            if local in ("sendTask", "businessRuleTask", "task", "userTask", "manualTask", "receiveTask",
                         "messageEventDefinition"):
                _check_camunda_delegate(el, out)
        elif ns == SPIFF_NS and local in ("preScript", "postScript"):
            _check_code(el, out, "exec", f"the {local}")


# --- reachability ---------------------------------------------------------------------------------------------

def _has_definition(el, name: str) -> bool:
    return bool(_children(el, name))


def _link_name(el) -> str | None:
    for d in _children(el, "linkEventDefinition"):
        return d.get("name") or el.get("name")
    return None


def _check_flow(scope, out: _File) -> None:
    if _local(scope) == "adHocSubProcess":
        return  # its activities run in any order, without flows
    nodes = {n.get("id"): n for n in scope if _is_bpmn(n) and _local(n) in FLOW_NODES
             and n.get("triggeredByEvent") != "true" and n.get("isForCompensation") != "true"}
    if not nodes:
        return
    kind = "process" if _local(scope) == "process" else "subprocess"
    starts = [i for i, n in nodes.items() if _local(n) == "startEvent"]
    ends = [i for i, n in nodes.items() if _local(n) == "endEvent"]
    if not starts:
        out.add("no-start-event", scope, f"this {kind} has no start event",
                f"add a start event and connect it to the first task of the {kind}")
    if not ends:
        out.add("no-end-event", scope, f"this {kind} has no end event",
                f"add an end event and connect the last task of each path of the {kind} to it")
    edges: dict[str, set[str]] = {i: set() for i in nodes}
    for flow in _children(scope, "sequenceFlow"):
        src, dst = flow.get("sourceRef"), flow.get("targetRef")
        if src in nodes and dst in nodes:
            edges[src].add(dst)
    links: dict[str, list[str]] = {}
    for i, n in nodes.items():
        if _local(n) == "boundaryEvent" and n.get("attachedToRef") in nodes:
            edges[n.get("attachedToRef")].add(i)
        if _local(n) == "intermediateCatchEvent" and _link_name(n):
            links.setdefault(_link_name(n), []).append(i)
    for i, n in nodes.items():
        if _local(n) == "intermediateThrowEvent" and _link_name(n):
            edges[i].update(links.get(_link_name(n), []))
            out.add("link-event", n, f"link event {_link_name(n)!r}: this engine (SpiffWorkflow 3.2) ends the path "
                    "here instead of continuing at the matching link catch event",
                    "replace the pair of link events with a sequence flow")
    reached = _closure(starts, edges)
    flowing = {i for src, targets in edges.items() for i in (src, *targets) if targets}
    for i, n in nodes.items():
        if i not in reached and starts:
            # An element with no flow at all is a shape left on the canvas: it never runs and blocks nothing (the
            # engine, like SpiffWorkflow, simply never reaches it), so it is a warning; an unreachable element that
            # is wired to others is a broken path and refused.
            isolated = i not in flowing and _local(n) != "boundaryEvent"
            out.add("unreachable", n, f"no path from a start event of the {kind} reaches this {_local(n)}"
                    + (" (it has no sequence flow: it never runs)" if isolated else ""),
                    "connect it with a sequence flow from an earlier element, or delete it",
                    severity=WARNING if isolated else ERROR)
    if not ends:
        return
    for i, n in nodes.items():
        if i in reached and not edges[i] and _local(n) not in ("endEvent", "boundaryEvent") and not (
                _local(n) == "intermediateThrowEvent" and _link_name(n)):
            out.add("implicit-end", n, f"this {_local(n)} has no outgoing flow: its path ends here without an end event",
                    "connect it to an end event", severity=WARNING)
    reverse: dict[str, set[str]] = {i: set() for i in nodes}
    for src, targets in edges.items():
        for dst in targets:
            reverse[dst].add(src)
    # A boundary event or task with no outgoing flow ends its path (BPMN's implicit end; warned about above).
    finishing = _closure(ends + [i for i in nodes if not edges[i]], reverse)
    compensation = {i for i, n in nodes.items() if _local(n) == "boundaryEvent"
                    and _has_definition(n, "compensateEventDefinition")}
    stuck = reached - finishing - compensation
    for i in sorted(stuck, key=lambda i: nodes[i].sourceline or 0):
        preds = reverse[i] & reached
        if preds and preds <= stuck:
            continue  # reported at the first stuck element of its path
        out.add("no-path-to-end", nodes[i], f"no path from this {_local(nodes[i])} reaches an end event: "
                "its paths loop without an exit", "give the loop an exit: a gateway flow to an end event")


def _closure(seeds, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(seeds), list(seeds)
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# --- gateways, expressions, scripts ---------------------------------------------------------------------------

def _check_gateway(gateway, out: _File) -> None:
    scope = gateway.getparent()
    outgoing = [f for f in _children(scope, "sequenceFlow") if f.get("sourceRef") == gateway.get("id")]
    if len(outgoing) < 2:
        return
    default = gateway.get("default")
    bare = [f.get("id") for f in outgoing if f.get("id") != default and not _text(_condition(f))]
    if bare:
        fix = "add a condition to each flow" + ("" if default else ", or make one of them the gateway's default flow")
        out.add("gateway-condition", gateway,
                f"outgoing {'flow' if len(bare) == 1 else 'flows'} {', '.join(bare)} of this {_local(gateway)} "
                f"{'has' if len(bare) == 1 else 'have'} no condition and {'is' if len(bare) == 1 else 'are'} not "
                "its default",
                fix)


def _check_event_gateway(gateway, out: _File) -> None:
    scope = gateway.getparent()
    targets = {n.get("id"): n for n in scope if _is_bpmn(n) and n.get("id")}
    wrong = [f.get("targetRef") for f in _children(scope, "sequenceFlow") if f.get("sourceRef") == gateway.get("id")
             and targets.get(f.get("targetRef")) is not None
             and _local(targets[f.get("targetRef")]) not in ("intermediateCatchEvent", "receiveTask")]
    if wrong:
        out.add("event-gateway-target", gateway, f"this event-based gateway leads to {', '.join(wrong)}: not a "
                "catch event or receive task, so nothing there waits for an event", "put an intermediate catch event (message, timer, signal) or a receive task "
                "after each outgoing flow")


def _condition(flow):
    found = _children(flow, "conditionExpression")
    return found[0] if found else None


def _check_expression(el, out: _File, what: str) -> None:
    _check_code(el, out, "eval", f"the {what}")


def _check_code(el, out: _File, mode: str, what: str) -> bool:
    """Check one expression ('eval') or script ('exec'); True when it compiles and is allowed."""
    text = _text(el)
    if not text:
        return True
    if _JUEL.search(text):
        out.add("juel", el, f"{what} {_short(text)} is Camunda JUEL that could not be translated",
                "write it as a Python expression, e.g. amount > 1000 and approved")
        return False
    code, noun = ("bad-expression", "expression") if mode == "eval" else ("bad-script", "script")
    if _calls_print(text, mode):
        out.add("print", el, f"{what} calls print(), whose output goes nowhere in this engine",
                "store what you want to keep in a task variable instead of printing it")
        return False
    try:
        compile_checked(text, mode)
    except ScriptNotAllowed as exc:
        out.add(code, el, f"{what} does not compile: {exc.message}",
                f"write the {noun} in plain Python: no imports, no names starting with an underscore")
        return False
    dangerous = _dangerous_names(text, mode)
    for name, lineno in dangerous:
        out.add("dangerous-name", el, f"{what} uses {name!r}, which scripts here may not reach (files, the "
                "environment, the interpreter)", f"remove {name!r}: a {noun} works only on task data and the "
                "script functions", line=(el.sourceline or 1) + lineno - 1)
    return not dangerous


# Builtins and modules a script must not reach. The restricted evaluator has none of them, so such a script would
# only fail when the task runs; named here, the deploy refuses it. A name the script assigns itself is its own.
DANGEROUS_CALLS = frozenset({"open", "eval", "exec", "compile", "globals", "locals", "vars", "getattr", "setattr",
                             "delattr", "__import__", "input", "breakpoint", "help", "memoryview"})
DANGEROUS_MODULES = frozenset({"os", "sys", "subprocess", "shutil", "socket", "builtins", "importlib"})


def _dangerous_names(text: str, mode: str) -> list[tuple[str, int]]:
    """(name, line in the text) for each call of a dangerous builtin or use of a dangerous module in the code."""
    tree = ast.parse(text, mode=mode)
    own = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    own |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    own |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
            for a in [*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg] if a is not None}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in DANGEROUS_CALLS and name not in own:
                found.append((name, node.lineno))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name = node.value.id
            if name in DANGEROUS_MODULES and name not in own:
                found.append((name, node.lineno))
    return sorted(set(found), key=lambda item: (item[1], item[0]))


def _calls_print(text: str, mode: str) -> bool:
    try:
        tree = ast.parse(text, mode=mode)
    except SyntaxError:
        return False  # compile_checked reports it
    return any(isinstance(n, ast.Name) and n.id == "print" for n in ast.walk(tree))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _check_script_task(task, out: _File) -> None:
    fmt = (task.get("scriptFormat") or "").strip().lower()
    if fmt in FOREIGN_SCRIPT_FORMATS or task.get(f"{{{CAMUNDA_NS}}}resource"):
        lang = task.get(f"{{{CAMUNDA_NS}}}resource") or task.get("scriptFormat")
        out.add("script-language", task, f"this script task is written in {lang!r}; only Python scripts run here",
                "rewrite the script in Python inside the script task")
        return
    for script in _children(task, "script"):
        _check_code(script, out, "exec", "the script")


# --- timers -----------------------------------------------------------------------------------------------------

_TIMER_PARSERS = {
    "timeDate": TimerEventDefinition.parse_time_or_duration,
    "timeDuration": TimerEventDefinition.parse_iso_duration,
    "timeCycle": TimerEventDefinition.parse_iso_recurring_interval,
}
_TIMER_EXAMPLES = {"timeDate": '"2026-12-24T09:00:00+08:00"', "timeDuration": '"PT4H" or "P3D"',
                   "timeCycle": '"R3/PT1H" or "R/2026-01-01T08:00:00+08:00/P1D"'}


def _iso_ok(kind: str, value: str) -> bool:
    try:
        _TIMER_PARSERS[kind](value)
    except Exception:  # noqa: BLE001 - SpiffWorkflow's timer parsers raise assorted errors on bad text
        return False
    return True


def _check_timer(el, out: _File) -> None:
    kind, text = _local(el), _text(el)
    fix = f"write an ISO 8601 string in quotes, e.g. {_TIMER_EXAMPLES[kind]}, or an expression giving one"
    if not text:
        out.add("bad-timer", el, f"the timer's {kind} is empty", fix)
        return
    if _iso_ok(kind, text) and not _is_string_literal(text):
        out.add("bad-timer", el, f"the timer's {kind} {_short(text)} is ISO 8601 but not quoted; timers are "
                "expressions here, so it would be read as a variable name",
                f'put it in quotes: "{text}"')
        return
    if not _JUEL.search(text):
        try:
            compile_checked(text, "eval")
        except ScriptNotAllowed as exc:
            cron = " (a cron expression is not supported)" if len(text.split()) >= 5 else ""
            out.add("bad-timer", el, f"the timer's {kind} {_short(text)} is neither ISO 8601 nor an expression"
                    f"{cron}: {exc.message}", fix)
            return
    if not _check_code(el, out, "eval", f"the timer's {kind}"):
        return
    value = ast.parse(text, mode="eval").body
    if isinstance(value, ast.Constant) and not (isinstance(value.value, str) and _iso_ok(kind, value.value)):
        out.add("bad-timer", el, f"the timer's {kind} {_short(text)} is not a valid ISO 8601 "
                f"{'date' if kind == 'timeDate' else kind[4:].lower()}", fix)


def _is_string_literal(text: str) -> bool:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


# --- references: forms, decisions, callees, messages, operators -----------------------------------------------

def _spiff_properties(el) -> list:
    return el.xpath("./bpmn:extensionElements/spiff:properties/spiff:property", namespaces=NS)


def _check_forms(el, out: _File, known: _Known) -> None:
    refs = [(p, p.get("value")) for p in _spiff_properties(el)
            if p.get("name") in ("formJsonSchemaFilename", "formUiSchemaFilename") and p.get("value")]
    form_key = el.get(f"{{{CAMUNDA_NS}}}formKey")
    if form_key and not form_key.lower().endswith(".json"):
        if "." in form_key.rsplit("/", 1)[-1] or ":" in form_key:
            out.add("missing-form", el, f"the form {form_key!r} is an HTML or Camunda form, which this engine "
                    "cannot show: the task will have no form fields", "name a JSON Schema file of the bundle "
                    "(camunda:formKey=\"form.json\") or describe the fields with camunda:formData",
                    severity=WARNING)
        form_key = None  # a bare formKey is a label (SpiffWorkflow's Camunda diagrams), with formData as the form
    if form_key:
        ref = form_key
        for prefix in FORM_KEY_PREFIXES:
            if ref.startswith(prefix):
                ref = ref[len(prefix):]
                break
        refs.append((el, ref))
    for node, ref in refs:
        if _JUEL.search(ref):
            out.add("missing-form", node, f"the form {ref!r} is computed at run time; forms must be named",
                    "name a JSON Schema file of the bundle", line=node.sourceline)
        elif ref not in known.forms and ref.rsplit("/", 1)[-1] not in known.form_basenames:
            out.add("missing-form", node, f"the form {ref!r} is not in the bundle",
                    "add the JSON Schema file to the bundle (next to the diagram), or correct the name")


def _check_decision(task, out: _File, known: _Known) -> None:
    spiff = task.xpath("./bpmn:extensionElements/spiff:calledDecisionId", namespaces=NS)
    ref = _text(spiff[0]) if spiff else task.get(f"{{{CAMUNDA_NS}}}decisionRef")
    if task.get(f"{{{CAMUNDA_NS}}}class") or task.get(f"{{{CAMUNDA_NS}}}expression") \
            or task.get(f"{{{CAMUNDA_NS}}}delegateExpression") or task.get(f"{{{CAMUNDA_NS}}}type"):
        return  # reported as a Java delegate
    if not ref:
        out.add("missing-decision", task, "this business rule task names no decision",
                "set its decision id (spiffworkflow:calledDecisionId or camunda:decisionRef) to a decision of "
                "a .dmn file in the bundle")
    elif ref not in known.decisions:
        out.add("missing-decision", spiff[0] if spiff else task,
                f"decision {ref!r} is neither in the bundle's DMN files nor deployed",
                "add the .dmn file that defines it to the bundle, or correct the decision id")


def _check_callee(call, out: _File, known: _Known) -> None:
    callee = (call.get("calledElement") or "").strip()
    if not callee:
        out.add("missing-callee", call, "this call activity names no process to call",
                "set calledElement to the id of a process in the bundle or already deployed")
    elif _JUEL.search(callee):
        out.add("missing-callee", call, f"the callee {callee!r} is computed at run time; callees must be named",
                "set calledElement to the id of a process in the bundle or already deployed")
    elif callee not in known.callees:
        out.add("missing-callee", call, f"process {callee!r} is neither in the bundle nor deployed",
                "add the diagram that defines it to the bundle, deploy it first, or correct calledElement")


def _message_name(messages: dict, ref: str | None) -> str | None:
    if ref is None:
        return None
    return messages.get(ref) or messages.get(ref.split(":", 1)[-1])


def _caught_messages(root) -> Iterator[str]:
    messages = {m.get("id"): m.get("name") or m.get("id") for m in _children(root, "message")}
    for el in root.iter(f"{{{BPMN_NS}}}messageEventDefinition", f"{{{BPMN_NS}}}receiveTask"):
        holder = el.getparent() if _local(el) == "messageEventDefinition" else el
        if _local(holder) in ("startEvent", "intermediateCatchEvent", "boundaryEvent", "receiveTask"):
            name = _message_name(messages, el.get("messageRef")) or holder.get("name")
            if name:
                yield name


def _check_message_ref(el, process, messages: dict, out: _File, known: _Known) -> None:
    ref = el.get("messageRef")
    name = _message_name(messages, ref)
    if name is None:
        out.add("unknown-message", el, f"messageRef {ref!r} names no message of this file",
                "define the message (bpmn:message with that id) in the file, or correct messageRef")
        return
    holder = el.getparent() if _local(el) == "messageEventDefinition" else el
    if _local(holder) not in ("intermediateThrowEvent", "endEvent", "sendTask") or name in known.caught:
        return
    if _flows_to_external_pool(holder, process):
        return
    out.add("uncaught-message", holder, f"message {name!r} is thrown here but nothing in the bundle or in a "
            "deployed process catches it", "add a message start, catch or boundary event (or a receive task) for "
            "it, or deploy the process that catches it first")


def _flows_to_external_pool(el, process) -> bool:
    """True when a message flow carries el's message to a pool with no executable process (an outside party)."""
    root = process.getroottree().getroot()
    owner = {p.get("id"): p.get("processRef") for p in root.iter(f"{{{BPMN_NS}}}participant")}
    executable = set()
    for p in _children(root, "process"):
        if p.get("isExecutable") == "true":
            executable.add(p.get("id"))
        for node in p.iter():
            if isinstance(node.tag, str) and node.get("id"):
                owner.setdefault(node.get("id"), p.get("id"))
    return any(flow.get("sourceRef") == el.get("id") and owner.get(flow.get("targetRef"), "") not in executable
               for flow in root.iter(f"{{{BPMN_NS}}}messageFlow"))


def _check_service_task(task, out: _File, known: _Known) -> None:
    if _check_camunda_delegate(task, out):
        return
    operators = task.xpath("./bpmn:extensionElements/spiff:serviceTaskOperator", namespaces=NS)
    have = ", ".join(sorted(known.operators)) or "none are registered"
    if not operators:
        out.add("unknown-operator", task, "this service task names no operator",
                f"add a spiffworkflow:serviceTaskOperator naming one of the registered operators ({have})")
        return
    name = operators[0].get("id")
    if name not in known.operators:
        out.add("unknown-operator", task, f"service task operator {name!r} is not registered",
                f"use one of the registered operators: {have}", line=operators[0].sourceline)


def _check_ignored_operator(task, out: _File) -> None:
    """A serviceTaskOperator left on a task whose type changed: SpiffWorkflow reads it only on service tasks."""
    for operator in task.xpath("./bpmn:extensionElements/spiff:serviceTaskOperator", namespaces=NS):
        out.add("ignored-operator", task, f"this {_local(task)} carries service task operator "
                f"{operator.get('id')!r}, which only a service task calls: it is ignored here",
                "remove the operator, or make the task a service task if it should call it",
                severity=WARNING, line=operator.sourceline)


def _check_camunda_delegate(el, out: _File) -> bool:
    """Report a Camunda Java implementation on el (True if there is one)."""
    # On a message event definition camunda:expression is the message payload (SpiffWorkflow reads it so).
    keys = ("class", "delegateExpression", "type") + (() if _local(el) == "messageEventDefinition" else ("expression",))
    camunda = {key: el.get(f"{{{CAMUNDA_NS}}}{key}") for key in keys}
    connector = el.xpath("./bpmn:extensionElements/camunda:connector", namespaces=NS)
    found = [f"camunda:{k}={v!r}" for k, v in camunda.items() if v] + (["camunda:connector"] if connector else [])
    if not found:
        return False
    out.add("java-delegate", el, f"this {_local(el)} is implemented by {', '.join(found)}: Camunda Java delegates, "
            "expressions, connectors and external tasks do not run in this engine",
            "use a service task with a spiffworkflow:serviceTaskOperator naming a registered operator, or a "
            "Python script task")
    return True

