"""Loading BPMN diagrams safely: XML without entities, XSD validation, restricted scripts, task metadata, forms."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.infra.errors import InvalidDiagram, ScriptNotAllowed
from engine.process.assignment import EXPRESSION_PROPERTIES, STAGES, user_task_meta  # noqa: F401 - re-exported
from engine.process.findings import refuse
from engine.process.juel import translate_document
from engine.process.scripting import compile_checked

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MAX_DIAGRAM_BYTES = 2 * 1024 * 1024

_validator: BpmnValidator | None = None


def _xsd_validator() -> BpmnValidator:
    global _validator  # the XSD takes a moment to load; it never changes
    if _validator is None:
        _validator = BpmnValidator()
    return _validator


def parse_xml_safely(source: bytes, filename: str = "<diagram>") -> etree._Element:
    """Parse untrusted XML: no DTDs, no entity expansion, no network, bounded size."""
    if len(source) > MAX_DIAGRAM_BYTES:
        raise InvalidDiagram(f"{filename}: diagram is larger than {MAX_DIAGRAM_BYTES} bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(source, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidDiagram(f"{filename}: not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise InvalidDiagram(f"{filename}: DOCTYPE declarations are not allowed in diagrams")
    return root


@dataclass
class ParsedDiagram:
    """A validated diagram: the executable spec plus what the engine reads from it."""

    process_id: str
    name: str
    source_xml: str
    sha256: str
    spec: object
    subprocess_specs: dict
    task_meta: dict[str, dict]
    start_form: str | None
    forms: dict[str, dict] = field(default_factory=dict)


def _check_expressions(root: etree._Element, filename: str) -> None:
    ns = {"bpmn": BPMN_NS}
    checks = [
        ("//bpmn:conditionExpression", "eval"),
        ("//bpmn:timeDate", "eval"),
        ("//bpmn:timeDuration", "eval"),
        ("//bpmn:timeCycle", "eval"),
        ("//bpmn:scriptTask/bpmn:script", "exec"),
    ]
    for xpath, mode in checks:
        for node in root.xpath(xpath, namespaces=ns):
            text = (node.text or "").strip()
            if not text:
                continue
            try:
                compile_checked(text, mode)
            except ScriptNotAllowed as exc:
                raise InvalidDiagram(f"{filename} line {node.sourceline}: {exc.message}") from None


def load_form(bpmn_dir: Path, ref: str, filename: str) -> dict:
    """Read and check one JSON Schema form referenced from a diagram."""
    path = (bpmn_dir / ref).resolve()
    if bpmn_dir.resolve() not in path.parents:
        raise InvalidDiagram(f"{filename}: form {ref!r} lies outside the diagram folder")
    if not path.is_file():
        raise InvalidDiagram(f"{filename}: form {ref!r} does not exist")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
    except (json.JSONDecodeError, SchemaError) as exc:
        raise InvalidDiagram(f"{filename}: form {ref!r} is not a valid JSON Schema: {exc}") from None
    return schema


def parse_diagram(source: bytes, bpmn_dir: Path, filename: str = "<diagram>",
                  role_map: dict | None = None) -> ParsedDiagram:
    """Validate a BPMN file completely and return its executable spec; raise InvalidDiagram otherwise.

    `role_map` maps lanes and candidate groups that are not role codes to roles ("*": the default)."""
    root = parse_xml_safely(source, filename)
    refuse(translate_document(root, filename))  # Camunda's ${...} becomes Python before anything compiles it
    _check_expressions(root, filename)
    parser = SpiffBpmnParser(validator=_xsd_validator())
    try:
        parser.add_bpmn_xml(root, filename)
        process_ids = [pid for pid in parser.get_process_ids()]
        executable = [
            pid for pid in process_ids
            if parser.get_process_parser(pid).node.get("isExecutable", "false") == "true"
        ]
        if len(executable) != 1:
            raise InvalidDiagram(f"{filename}: expected exactly one executable process, found {len(executable)}")
        process_id = executable[0]
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        raise InvalidDiagram(f"{filename}: {exc}") from None
    except InvalidDiagram:
        raise
    except Exception as exc:  # SpiffWorkflow raises assorted errors on malformed models
        raise InvalidDiagram(f"{filename}: {type(exc).__name__}: {exc}") from None

    assignment = user_task_meta(spec, subprocess_specs, {filename: root}, role_map)
    refuse(assignment.findings)
    task_meta = assignment.task_meta
    start_forms = root.xpath(
        "//bpmn:startEvent//spiff:property[@name='formJsonSchemaFilename']/@value",
        namespaces={"bpmn": BPMN_NS, "spiff": SPIFF_NS},
    )
    start_form = start_forms[0] if start_forms else None
    forms = dict(assignment.forms)
    for ref in assignment.form_refs | ({start_form} if start_form else set()):
        forms[ref] = load_form(bpmn_dir, ref, filename)
    text = source.decode("utf-8")
    return ParsedDiagram(
        process_id=process_id,
        name=parser.get_process_parser(process_id).node.get("name") or process_id,
        source_xml=text,
        sha256=hashlib.sha256(source).hexdigest(),
        spec=spec,
        subprocess_specs=subprocess_specs,
        task_meta=task_meta,
        start_form=start_form,
        forms=forms,
    )
