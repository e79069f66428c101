"""Protected processes: what a subject's code relies on in the shipped diagram it runs, checked on every deploy.

A subject (rectification, campaigns, schedules) registers a `Contract` for the process key it starts or reads
(`hooks.protect(key, contract)` in its register()). A new version of that process must still provide everything
the contract names, or the deploy is refused with one finding per missing item: the subject code would break on
it (a ledger that never closes, a campaign that never hears back from its units).

What a diagram provides is read from its parsed spec (every process and subprocess spec), its forms and its
scripts, so the check works the same for any diagram a designer brings.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent, ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask

from engine.process.findings import Finding

ANY_TASK = "*"  # in Contract.properties: some user task carries the property


@dataclass(frozen=True)
class Contract:
    """What the code of one subject relies on in one process; every field lists what must still be there."""

    subject: str  # who relies on it, named in findings ("rectification", "campaigns", "schedules")
    user_tasks: tuple[str, ...] = ()  # BPMN ids that must stay user tasks (pages and checks name them)
    elements: tuple[str, ...] = ()  # other flow nodes named by id (a wait the pages show, a subprocess)
    data_keys: tuple[str, ...] = ()  # process data the subject reads that the diagram writes (a form field, a script)
    start_fields: tuple[str, ...] = ()  # fields of the start form the subject's start verb reads
    sends: tuple[str, ...] = ()  # BPMN messages the diagram must throw
    catches: tuple[str, ...] = ()  # BPMN messages the diagram must catch (a catch event, receive task or start)
    message_starts: tuple[str, ...] = ()  # messages that must start the process (a message start event)
    lanes: tuple[str, ...] = ()  # roles that must keep a user task of their own
    stages: tuple[str, ...] = ()  # `stage` values that some user task must still carry
    # {task id or ANY_TASK: {property name: required value, or None for any value}}
    properties: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # where its instances start instead of 发起流程 (a page and an API route); empty: no start of its own to name
    started_through: str = ""


@dataclass
class Provided:
    """What one parsed diagram offers a contract."""

    user_tasks: dict[str, Any] = field(default_factory=dict)  # bpmn id -> task spec
    elements: set[str] = field(default_factory=set)
    data_keys: set[str] = field(default_factory=set)
    start_fields: set[str] = field(default_factory=set)
    sends: set[str] = field(default_factory=set)
    catches: set[str] = field(default_factory=set)
    message_starts: set[str] = field(default_factory=set)
    lanes: set[str] = field(default_factory=set)
    stages: set[str] = field(default_factory=set)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _assigned_names(script: str) -> set[str]:
    """Names a script assigns (`closed = True`); every identifier if it does not parse."""
    try:
        tree = ast.parse(script)
    except SyntaxError:
        return set(_NAME.findall(script))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            names.add(node.value.id)  # data["x"] = … writes into an existing key
    return names


def _form_fields(schema: Any) -> set[str]:
    """Property names of a JSON Schema form, at any depth (dependencies and allOf branches included)."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                found.update(props)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _message_names(spec) -> list[str]:
    definition = getattr(spec, "event_definition", None)
    definitions = getattr(definition, "event_definitions", None) or [definition]
    return [d.name for d in definitions if isinstance(d, MessageEventDefinition) and d.name]


def _all_specs(parsed) -> Iterable:
    yield parsed.spec
    yield from (parsed.subprocess_specs or {}).values()


def provided_by(parsed) -> Provided:
    """Read what a parsed diagram (engine.process.diagrams.ParsedDiagram) provides."""
    out = Provided()
    forms = parsed.forms or {}
    for spec in _all_specs(parsed):
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                out.elements.add(bpmn_id)
            for script in (getattr(task_spec, "script", None), getattr(task_spec, "prescript", None),
                           getattr(task_spec, "postscript", None)):
                if script:
                    out.data_keys |= _assigned_names(script)
            for item in (getattr(task_spec, "data_output_associations", None) or []):
                out.data_keys.add(getattr(item, "bpmn_id", None) or getattr(item, "name", ""))
            names = _message_names(task_spec)
            if isinstance(task_spec, CatchingEvent):
                out.catches.update(names)
                if isinstance(task_spec, StartEvent):
                    out.message_starts.update(names)
            if isinstance(task_spec, ThrowingEvent):
                out.sends.update(names)
            if isinstance(task_spec, UserTask) and bpmn_id:
                out.user_tasks[bpmn_id] = task_spec
                if task_spec.lane:
                    out.lanes.add(task_spec.lane)
                props = (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}
                if props.get("stage"):
                    out.stages.add(props["stage"])
                form = forms.get(props.get("formJsonSchemaFilename") or "")
                out.data_keys |= _form_fields(form)
        out.elements.update(name for name in (parsed.subprocess_specs or {}))
    start_form = forms.get(parsed.start_form or "") if parsed.start_form else None
    out.start_fields = _form_fields(start_form)
    out.data_keys |= out.start_fields
    return out


def _properties_of(task_spec) -> dict:
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}


def missing(contract: Contract, provided: Provided, filename: str | None = None) -> list[Finding]:
    """One error finding per item of `contract` that `provided` lacks."""
    who = f"the {contract.subject} code relies on it"
    fix = "keep it in the new version (or change the subject code first)"
    out: list[Finding] = []

    def add(code: str, message: str, element_id: str | None = None) -> None:
        out.append(Finding(code, f"{message}; {who}", file=filename, element_id=element_id, fix=fix))

    for task_id in contract.user_tasks:
        if task_id not in provided.user_tasks:
            what = "is no longer a user task" if task_id in provided.elements else "is missing"
            add("contract-user-task", f"user task {task_id!r} {what}", task_id)
    for element_id in contract.elements:
        if element_id not in provided.elements:
            add("contract-element", f"element {element_id!r} is missing", element_id)
    for field_name, code, message in _PLAIN_CHECKS:
        for name in getattr(contract, field_name):
            if name not in getattr(provided, field_name):
                add(code, message.format(name=name))
    for task_id, wanted in contract.properties.items():
        tasks = (list(provided.user_tasks.values()) if task_id == ANY_TASK
                 else [provided.user_tasks[task_id]] if task_id in provided.user_tasks else [])
        for name, value in wanted.items():
            if not any(name in _properties_of(t) and (value is None or _properties_of(t)[name] == value)
                       for t in tasks):
                where = "any user task" if task_id == ANY_TASK else f"user task {task_id!r}"
                expected = f"{name}={value!r}" if value is not None else name
                add("contract-property", f"{where} lacks the property {expected}",
                    None if task_id == ANY_TASK else task_id)
    return out


# What a contract lists and a diagram must still provide, with the finding when it does not: (field, code, message).
_PLAIN_CHECKS = (
    ("data_keys", "contract-data-key", "no form field or script writes the data key {name!r}"),
    ("start_fields", "contract-start-field", "the start form has no field {name!r}"),
    ("sends", "contract-message-sent", "nothing throws the message {name!r}"),
    ("catches", "contract-message-caught", "nothing catches the message {name!r}"),
    ("message_starts", "contract-message-start", "no start event starts on the message {name!r}"),
    ("lanes", "contract-lane", "no user task is left in the lane {name!r}"),
    ("stages", "contract-stage", "no user task carries the stage {name!r}"),
)


def check_contracts(contracts: Iterable[Contract], parsed, filename: str | None = None) -> list[Finding]:
    """Every finding of every contract registered for the parsed diagram's process."""
    contracts = list(contracts)
    if not contracts:
        return []
    provided = provided_by(parsed)
    return [f for contract in contracts for f in missing(contract, provided, filename)]
