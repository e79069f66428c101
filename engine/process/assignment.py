"""Who does each user task, when it is due and which form it shows: read from the diagram at deploy, at any depth.

`user_task_meta` walks every inbox task (user and manual tasks) of a process and of all its subprocess specs
(embedded subprocesses, transactions, event subprocesses, call-activity callees) and returns one meta dict per
task, the forms it generates and its findings. It reads:

- SpiffArena: the lane, `spiffworkflow:properties` (stage, dueDuration, dueExpression, priority, candidateOrg,
  excludePerformersOf, nameExpression, preferredAssignee, recordPerformerAs, ...), `formJsonSchemaFilename` +
  `formUiSchemaFilename` and `instructionsForEndUser` (Jinja + Markdown, see instructions.py);
- Camunda 7: `camunda:assignee`, `candidateUsers`, `candidateGroups` (a group is a role, optionally
  `role@orgExpression`), `dueDate`, `followUpDate`, `priority`, `formKey` (a JSON Schema in the bundle) and
  `camunda:formData` (turned into a JSON Schema form). `${...}` values are JUEL, translated by juel.py.

Lanes and groups that are not role codes are mapped by a role map given at deploy (`{"Reviewers":
"security_office", "*": "leader"}`; "*" is the default) or by a `role` property on the lane. A task with no
lane and no assignment goes to whoever started the instance (SpiffArena's rule); when the process cannot be
started by a person (only timer or message starts) such a task has no candidate and is refused, naming it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.infra.errors import ScriptNotAllowed
from engine.org.models import ROLES
from engine.process import instructions as instructions_module
from engine.process.findings import WARNING, Finding
from engine.process.juel import FIX as JUEL_FIX
from engine.process.juel import JuelError, is_juel, translate, translate_value
from engine.process.scripting import compile_checked

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
# User-task properties holding expressions, compiled (restricted) at deploy: candidateOrg (org whose role holders
# are candidates), dueExpression (due date/datetime), issueNotice (true: completing the task issues the hazard's
# numbered 整改通知书, see notices.py), nameExpression (the inbox title, e.g. a patrol's sites; schedules.py),
# preferredAssignee (a user the task goes to while they are one of its candidates, else its group; projection.py).
# `recordPerformerAs` (not an expression) names the process variable that gets the id of whoever completes the task.
EXPRESSION_PROPERTIES = ("candidateOrg", "dueExpression", "issueNotice", "nameExpression", "preferredAssignee")
STAGES = ("discover", "register", "report", "rectify", "accept", "close", "archive",
          # campaign stages (issue 5)
          "self_check", "joint_inspection", "rectification", "supervision", "summary")
DEFAULT_ROLE = "*"  # the role map's key for every lane or group it does not name
FORM_DATA_PREFIX = "formData/"  # generated forms are stored under formData/<task id>.json
_FORM_FIELD_TYPES = {"string": {"type": "string"}, "long": {"type": "integer"}, "integer": {"type": "integer"},
                     "short": {"type": "integer"}, "double": {"type": "number"}, "boolean": {"type": "boolean"},
                     "date": {"type": "string", "format": "date"}}


@dataclass
class Assignment:
    """What `user_task_meta` read: the meta of every inbox task, the forms generated from formData, findings."""

    task_meta: dict[str, dict] = field(default_factory=dict)
    forms: dict[str, dict] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def form_refs(self) -> set[str]:
        """The form and UI schema files the tasks name (to be read from the bundle)."""
        refs = set()
        for meta in self.task_meta.values():
            for key in ("form", "ui_form"):
                if meta.get(key) and meta[key] not in self.forms:
                    refs.add(meta[key])
        return refs


def resolve_role(name: str, role_map: dict | None, lane_role: str | None = None) -> str | None:
    """The role a lane or group name stands for ("role" or "role@orgExpression"), or None.

    A `role` property on the lane comes first, then the role map's entry for the name, the name itself when it
    is a role code, and the role map's default ("*")."""
    role_map = role_map or {}
    for candidate in (lane_role, role_map.get(name), name if _role_code(name) in ROLES else None,
                      role_map.get(DEFAULT_ROLE)):
        if candidate:
            return candidate
    return None


def split_group(value: str) -> tuple[str, str | None]:
    """"department_head@responsible_unit_id" → ("department_head", "responsible_unit_id")."""
    role, _, org = value.partition("@")
    return role.strip(), (org.strip() or None)


def _role_code(value: str) -> str:
    return split_group(value)[0]


class _Index:
    """The diagrams' elements by id, each element's lane, and the processes' start events."""

    def __init__(self, documents: dict[str, etree._Element]):
        self.elements: dict[str, tuple[str, etree._Element]] = {}
        self.lane_of: dict[str, etree._Element] = {}
        self._thrown: set[str] | None = None
        for filename, root in documents.items():
            for elem in root.iter(f"{{{BPMN_NS}}}*"):
                if elem.get("id") and elem.get("id") not in self.elements:
                    self.elements[elem.get("id")] = (filename, elem)
            # Document order visits a parent lane before its child lanes, so the innermost lane wins.
            for lane in root.iter(f"{{{BPMN_NS}}}lane"):
                for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
                    if ref.text:
                        self.lane_of[ref.text.strip()] = lane

    def lane(self, elem: etree._Element) -> etree._Element | None:
        """The lane of a flow node; a node inside a subprocess sits in the lane of its subprocess."""
        node = elem
        while node is not None and etree.QName(node).localname != "process":
            if node.get("id") in self.lane_of:
                return self.lane_of[node.get("id")]
            node = node.getparent()
        return None

    def can_start_with_person(self, process_id: str) -> bool:
        """True when a person starts the process: a none start event, or a message start whose message another
        process of the bundle throws (the instance it starts goes on for the person who made that one throw)."""
        found = self.elements.get(process_id)
        if found is None:
            return True
        for start in found[1].findall(f"{{{BPMN_NS}}}startEvent"):
            definitions = [c for c in start if etree.QName(c).localname.endswith("EventDefinition")]
            if not definitions:
                return True
            if all(etree.QName(d).localname == "messageEventDefinition" and d.get("messageRef") in self.thrown
                   for d in definitions):
                return True
        return False

    @property
    def thrown(self) -> set[str]:
        """Ids of the messages some element of the bundle throws (throw and end events, send tasks)."""
        if self._thrown is None:
            self._thrown = set()
            for _filename, elem in self.elements.values():
                kind = etree.QName(elem).localname
                if kind == "sendTask" and elem.get("messageRef"):
                    self._thrown.add(elem.get("messageRef"))
                elif kind in ("intermediateThrowEvent", "endEvent"):
                    self._thrown.update(d.get("messageRef") for d in elem.findall(f"{{{BPMN_NS}}}messageEventDefinition")
                                        if d.get("messageRef"))
        return self._thrown


def _lane_role_property(lane: etree._Element) -> str | None:
    for prop in lane.iter(f"{{{SPIFF_NS}}}property", f"{{{CAMUNDA_NS}}}property"):
        if prop.get("name") == "role" and prop.getparent() is not None and \
                prop.getparent().getparent() is not None and prop.getparent().getparent().getparent() is lane:
            return (prop.get("value") or "").strip() or None
    return None


class _TaskReader:
    """Builds the meta of one task, collecting findings instead of stopping at the first."""

    def __init__(self, task_spec, filename: str, elem: etree._Element | None, result: Assignment,
                 available_forms):
        self.spec = task_spec
        self.filename = filename
        self.elem = elem
        self.result = result
        self.available_forms = available_forms
        self.ok = True

    def finding(self, code: str, message: str, fix: str | None = None, severity: str = "error", line=None):
        if severity == "error":
            self.ok = False
        self.result.findings.append(Finding(
            code=code, message=message, file=self.filename, element_id=self.spec.bpmn_id,
            element_name=self.spec.bpmn_name, line=line or (self.elem.sourceline if self.elem is not None else None),
            fix=fix, severity=severity))

    def camunda(self, name: str) -> str | None:
        if self.elem is None:
            return None
        value = self.elem.get(f"{{{CAMUNDA_NS}}}{name}")
        return value.strip() if value is not None and value.strip() else None

    def expression(self, what: str, text: str | None, literal: bool = True) -> str | None:
        """A Camunda value as a checked Python expression (JUEL translated; plain text a string literal)."""
        if text is None:
            return None
        try:
            python = translate_value(text) if literal else (translate(text) if is_juel(text) else text)
        except JuelError as exc:
            self.finding("untranslatable-expression", f"{what} {text!r} of task {self.spec.bpmn_id!r} cannot be "
                         f"translated: {exc}", JUEL_FIX)
            return None
        return self.compiled(what, python)

    def compiled(self, what: str, python: str | None) -> str | None:
        if python is None:
            return None
        try:
            compile_checked(python, "eval")
        except ScriptNotAllowed as exc:
            self.finding("expression-not-allowed", f"task {self.spec.bpmn_id!r} {what}: {exc.message}",
                         "write it as a restricted Python expression")
            return None
        return python

    def date_value(self, what: str, text: str | None) -> tuple[str | None, str | None]:
        """(ISO duration, expression) of a Camunda dueDate/followUpDate."""
        if text is None:
            return None, None
        if is_juel(text):
            return None, self.expression(what, text)
        if text.startswith("P"):
            try:
                TimerEventDefinition.parse_iso_duration(text)
            except Exception:  # noqa: BLE001 - SpiffWorkflow raises assorted errors on a bad duration
                self.finding("bad-date", f"task {self.spec.bpmn_id!r} {what} {text!r} is not an ISO-8601 duration",
                             "write a duration such as P3D or a date such as 2026-12-24T09:00:00+08:00")
                return None, None
            return text, None
        try:
            _check_date(text)
        except ValueError:
            self.finding("bad-date", f"task {self.spec.bpmn_id!r} {what} {text!r} is neither an ISO-8601 date "
                         "nor an expression", "write a date such as 2026-12-24T09:00:00+08:00 or ${dueDate}")
            return None, None
        return None, repr(text)


def _check_date(text: str) -> None:
    if "T" in text:
        datetime.fromisoformat(text)
    else:
        date.fromisoformat(text)


def user_task_meta(spec, subprocess_specs: dict, documents: dict[str, etree._Element], role_map: dict | None = None,
                   available_forms=None) -> Assignment:
    """The meta of every inbox task in `spec` and all `subprocess_specs`, with findings (errors refuse a deploy).

    `documents` are the parsed diagrams by file name (the Camunda attributes and lanes are read there);
    `available_forms` the names of the bundle's files, when known (forms it lacks are findings)."""
    index = _Index(documents)
    result = Assignment()
    with_person = index.can_start_with_person(spec.name)
    for owner in [spec, *subprocess_specs.values()]:
        for task_spec in owner.task_specs.values():
            if not getattr(task_spec, "manual", False) or not getattr(task_spec, "bpmn_id", None):
                continue
            if task_spec.bpmn_id in result.task_meta:
                continue  # a callee reached twice, or the same task seen through two specs
            filename, elem = index.elements.get(task_spec.bpmn_id, (next(iter(documents), "<diagram>"), None))
            reader = _TaskReader(task_spec, filename, elem, result, available_forms)
            meta = _read_task(reader, index, role_map, with_person, owner.name)
            result.task_meta[task_spec.bpmn_id] = meta
    return result


def _read_task(reader: _TaskReader, index: _Index, role_map: dict | None, with_person: bool, owner: str) -> dict:
    task_spec = reader.spec
    extensions = getattr(task_spec, "extensions", None) or {}
    props = dict(extensions.get("properties", {}))
    for key in EXPRESSION_PROPERTIES:
        if props.get(key):
            reader.compiled(f"property {key}", props[key])
    if props.get("dueDuration"):
        try:
            TimerEventDefinition.parse_iso_duration(props["dueDuration"])
        except Exception:  # noqa: BLE001 - SpiffWorkflow raises assorted errors on a bad duration
            reader.finding("bad-duration", f"task {task_spec.bpmn_id!r} dueDuration {props['dueDuration']!r} is not "
                           "an ISO-8601 duration", "write a duration such as P3D")
    stage = props.get("stage")
    if stage is not None and stage not in STAGES:
        reader.finding("unknown-stage", f"task {task_spec.bpmn_id!r} stage {stage!r} is not one of {STAGES}",
                       f"use one of {', '.join(STAGES)}")

    # -- the lane
    lane_elem = index.lane(reader.elem) if reader.elem is not None else None
    lane_name = (lane_elem.get("name") or lane_elem.get("id")) if lane_elem is not None else task_spec.lane
    lane_role = None
    if lane_name:
        mapped = resolve_role(lane_name, role_map, _lane_role_property(lane_elem) if lane_elem is not None else None)
        role, org = split_group(mapped) if mapped else (None, None)
        if role not in ROLES:
            reader.finding("lane-not-a-role", f"lane {lane_name!r} of task {task_spec.bpmn_id!r} is not a role",
                           f"name the lane with one of {', '.join(ROLES)}, give it a `role` property, or map it "
                           "in the deployment's role map")
        else:
            lane_role = role
            if org and not props.get("candidateOrg"):
                props.setdefault("candidateOrg", org)
                reader.compiled("lane organisation", org)

    # -- Camunda's assignment
    assignee = reader.expression("assignee", reader.camunda("assignee"))
    candidate_users = _list_expressions(reader, "candidateUsers")
    candidate_groups = _groups(reader, role_map)
    due_duration, due_expression = props.get("dueDuration"), props.get("dueExpression")
    if not due_duration and not due_expression:
        due_duration, due_expression = reader.date_value("dueDate", reader.camunda("dueDate"))
    follow_duration, follow_expression = reader.date_value("followUpDate", reader.camunda("followUpDate"))

    priority, priority_expression = 50, None
    raw_priority = props.get("priority", reader.camunda("priority"))
    if raw_priority is not None:
        if is_juel(raw_priority):
            priority_expression = reader.expression("priority", raw_priority)
        else:
            try:
                priority = int(raw_priority)
            except ValueError:
                reader.finding("bad-priority", f"task {task_spec.bpmn_id!r} priority must be an integer",
                               "write a whole number such as 50")

    form, ui_form = props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")
    if form is None:
        form = _camunda_form(reader)
    if ui_form and form is None:
        reader.finding("ui-schema-without-form", f"task {task_spec.bpmn_id!r} names a UI schema but no form",
                       "add formJsonSchemaFilename next to formUiSchemaFilename")
    if reader.available_forms is not None:
        for ref in (form, ui_form):
            if ref and ref not in reader.result.forms and ref not in reader.available_forms:
                reader.finding("missing-form", f"form {ref!r} of task {task_spec.bpmn_id!r} is not in the bundle",
                               "add the JSON file to the deployment")

    text = extensions.get("instructionsForEndUser")
    if text:
        problem = instructions_module.template_problem(text)
        if problem:
            reader.finding("bad-instructions", f"instructionsForEndUser of task {task_spec.bpmn_id!r}: {problem}",
                           "fix the Jinja template (e.g. close every {{ ... }})")

    starter = not (lane_name or assignee or candidate_users or candidate_groups)
    default = split_group((role_map or {}).get(DEFAULT_ROLE) or "")
    if starter and not with_person and default[0] in ROLES:
        # nobody starts it by hand: the role map's default role does the lane-less tasks
        starter, lane_role = False, default[0]
        if default[1] and not props.get("candidateOrg"):
            props["candidateOrg"] = reader.compiled("role map organisation", default[1])
    if starter and not with_person and reader.ok:
        reader.finding("no-candidate", f"task {task_spec.bpmn_id!r} ({task_spec.bpmn_name or ''}) would have no "
                       "candidate: it has no lane, assignee or candidate users/groups, and the process cannot be "
                       "started by a person (only timer or message starts) for it to go to",
                       "put the task in a lane that maps to a role, give it camunda:assignee or "
                       "camunda:candidateGroups, or deploy with a default role (role map \"*\")")
    return {
        "bpmn_id": task_spec.bpmn_id,
        "name": task_spec.bpmn_name or task_spec.bpmn_id,
        "lane": lane_role,
        "lane_name": lane_name,
        "stage": stage,
        "form": form,
        "ui_form": ui_form,
        "due_duration": due_duration,
        "due_expression": due_expression,
        "follow_up_duration": follow_duration,
        "follow_up_expression": follow_expression,
        "priority": priority,
        "priority_expression": priority_expression,
        "candidate_org": props.get("candidateOrg"),
        "exclude_performers_of": [s.strip() for s in props.get("excludePerformersOf", "").split(",") if s.strip()],
        "assignee": assignee,
        "candidate_users": candidate_users,
        "candidate_groups": candidate_groups,
        "starter": starter,
        "instructions": text or None,
        "process": owner,
        "properties": props,
    }


def _list_expressions(reader: _TaskReader, attribute: str) -> list[str]:
    """candidateUsers="a, b" → ["'a'", "'b'"]; "${reviewers}" → ["reviewers"] (a name or a list of them)."""
    raw = reader.camunda(attribute)
    if raw is None:
        return []
    items = [raw] if is_juel(raw) else [part for part in raw.split(",") if part.strip()]
    return [expr for expr in (reader.expression(attribute, item.strip()) for item in items) if expr]


def _groups(reader: _TaskReader, role_map: dict | None) -> list[dict]:
    """candidateGroups as [{"role": code | None, "role_expression": expr | None, "org": expr | None}]."""
    raw = reader.camunda("candidateGroups")
    if raw is None:
        return []
    if is_juel(raw):
        expr = reader.expression("candidateGroups", raw)
        return [{"role": None, "role_expression": expr, "org": None}] if expr else []
    groups = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, org = split_group(item)
        mapped = resolve_role(name, role_map)
        role, mapped_org = split_group(mapped) if mapped else (None, None)
        if role not in ROLES:
            reader.finding("group-not-a-role", f"candidate group {name!r} of task {reader.spec.bpmn_id!r} is not "
                           "a role", f"use one of {', '.join(ROLES)} (optionally role@orgExpression), or map the "
                           "group in the deployment's role map")
            continue
        org_expr = org or mapped_org
        groups.append({"role": role, "role_expression": None,
                       "org": reader.expression("candidateGroups organisation", org_expr, literal=False)
                       if org_expr else None})
    return groups


def _camunda_form(reader: _TaskReader) -> str | None:
    """The form of a Camunda task: formData turned into a JSON Schema, or a formKey naming a JSON file."""
    if reader.elem is not None:
        form_data = reader.elem.find(f"{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_NS}}}formData")
        if form_data is not None:
            ref = f"{FORM_DATA_PREFIX}{reader.spec.bpmn_id}.json"
            schema = form_data_schema(form_data, reader)
            if schema is not None:
                reader.result.forms[ref] = schema
                return ref
            return None
    key = reader.camunda("formKey")
    if key is None:
        return None
    for prefix in ("camunda-forms:deployment:", "deployment:", "embedded:deployment:"):
        key = key.removeprefix(prefix)
    if key.endswith(".json") and ":" not in key:
        return key
    reader.finding("form-key-not-json", f"formKey {key!r} of task {reader.spec.bpmn_id!r} is not a JSON Schema in "
                   "the bundle; the task shows no form fields", "add a JSON Schema form to the bundle and name it "
                   "in formKey, or use camunda:formData", severity=WARNING)
    return None


def camunda_start_form(spec, root: etree._Element, filename: str, available_forms=None) -> tuple[str | None, Assignment]:
    """The start form a Camunda diagram puts on its none start event (`camunda:formData` turned into a JSON Schema,
    or a `camunda:formKey` naming a JSON file); the generated schema and any findings are in the Assignment."""
    result = Assignment()
    for task_spec in spec.task_specs.values():
        if type(task_spec).__name__ != "StartEvent" or not isinstance(task_spec.event_definition, NoneEventDefinition):
            continue
        elems = root.xpath("//bpmn:startEvent[@id=$id]", namespaces={"bpmn": BPMN_NS}, id=task_spec.bpmn_id)
        if elems:
            ref = _camunda_form(_TaskReader(task_spec, filename, elems[0], result, available_forms))
            if ref:
                return ref, result
    return None, result


def form_data_schema(form_data: etree._Element, reader: _TaskReader) -> dict | None:
    """camunda:formData → a JSON Schema (field types, labels, defaults, enum values, required/min/max)."""
    properties, required = {}, []
    for form_field in form_data.findall(f"{{{CAMUNDA_NS}}}formField"):
        name = form_field.get("id")
        kind = form_field.get("type") or "string"
        if not name:
            reader.finding("bad-form-field", "a camunda:formField has no id", "give every form field an id",
                           line=form_field.sourceline)
            continue
        if kind == "enum":
            values = form_field.findall(f"{{{CAMUNDA_NS}}}value")
            prop = {"type": "string", "oneOf": [{"const": v.get("id"), "title": v.get("name") or v.get("id")}
                                                for v in values if v.get("id")]}
        elif kind in _FORM_FIELD_TYPES:
            prop = dict(_FORM_FIELD_TYPES[kind])
        else:  # a custom type of a Camunda form plugin: kept as text, and said so
            prop = {"type": "string"}
            reader.finding("custom-form-field", f"form field {name!r} has the custom type {kind!r}; it is shown as "
                           "a text field", f"use one of {', '.join([*_FORM_FIELD_TYPES, 'enum'])}",
                           severity=WARNING, line=form_field.sourceline)
        if form_field.get("label"):
            prop["title"] = form_field.get("label")
        default = form_field.get("defaultValue")
        if default is not None and not is_juel(default):
            prop["default"] = _typed(default, prop)
        for constraint in form_field.iter(f"{{{CAMUNDA_NS}}}constraint"):
            _constrain(prop, constraint.get("name"), constraint.get("config"), name, required)
        properties[name] = prop
    if not properties:
        return None
    schema = {"type": "object", "title": reader.spec.bpmn_name or reader.spec.bpmn_id, "properties": properties}
    if required:
        schema["required"] = required
    return json.loads(json.dumps(schema))


def _typed(value: str, prop: dict):
    kind = prop.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return value.strip().lower() == "true"
    return value


def _constrain(prop: dict, name: str | None, config: str | None, field_name: str, required: list) -> None:
    numeric = prop.get("type") in ("integer", "number")
    try:
        if name == "required":
            required.append(field_name)
            if prop.get("type") == "string" and "oneOf" not in prop:
                prop["minLength"] = max(prop.get("minLength", 0), 1)
        elif name == "readonly":
            prop["readOnly"] = True
        elif name in ("min", "max") and config is not None:
            key = ("minimum" if name == "min" else "maximum") if numeric else (
                "minLength" if name == "min" else "maxLength")
            prop[key] = float(config) if numeric and "." in config else int(config)
        elif name in ("minlength", "maxlength") and config is not None:
            prop["minLength" if name == "minlength" else "maxLength"] = int(config)
    except ValueError:
        pass  # a constraint whose config is not a number is not enforced by Camunda's form either
