"""Loading BPMN bundles safely: XML without entities, XSD, restricted scripts, DMN, callees, task metadata, forms.

The parse pipeline, per bundle (engine/process/bundles.py):

1. every .bpmn and .dmn file is parsed as untrusted XML (`parse_xml_safely`);
2. Camunda JUEL is translated to Python in place (`juel.translate_document`);
3. and 4. the bundle is linted as a whole (`lint.lint_bundle`: BPMN XSD, structure, references, and every
   script, condition and timer expression compiled by the restricted evaluator);
5. SpiffWorkflow parses every diagram and decision table together (DMN XSD, specs); a call activity whose callee is
   not in the bundle is resolved to a deployed process (the latest, or the version its `calledVersion` property
   pins) by parsing that version's stored files in a parser of their own;
6. every user task's meta is read (`assignment.user_task_meta`), and the forms it names are read from the bundle.

`check_bundle` collects every finding (validate shows them all); `parse_bundle` refuses when any is an error.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import BusinessRuleTaskParser
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask

from engine.infra.errors import InvalidDiagram
from engine.process import assignment, camunda_messages, juel, lint
from engine.process.bundles import Bundle
from engine.process.findings import ERROR, WARNING, Finding, refuse
from engine.process.forms import check_form_schema
from engine.process.operators import OPERATOR_NAMES

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "spiff": SPIFF_NS, "camunda": CAMUNDA_NS}
MAX_DIAGRAM_BYTES = 2 * 1024 * 1024
MAX_CALL_DEPTH = 8  # deployed callees calling deployed callees: deeper than this is refused (and cycles)
CALLED_VERSION_PROPERTY = "calledVersion"
DEPLOY_WARNINGS = frozenset({"uncaught-message"})  # lint errors that only warn at deploy (see check_bundle)

_validator: BpmnValidator | None = None


def _xsd_validator() -> BpmnValidator:
    global _validator  # the XSD takes a moment to load; it never changes
    if _validator is None:
        _validator = BpmnValidator()
    return _validator


def _read_xml(source: bytes) -> etree._Element:
    if len(source) > MAX_DIAGRAM_BYTES:
        raise ValueError(f"file is larger than {MAX_DIAGRAM_BYTES} bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(source, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise ValueError("DOCTYPE declarations are not allowed in diagrams")
    return root


def parse_xml_safely(source: bytes, filename: str = "<diagram>") -> etree._Element:
    """Parse untrusted XML: no DTDs, no entity expansion, no network, bounded size."""
    try:
        return _read_xml(source)
    except ValueError as exc:
        raise InvalidDiagram(f"{filename}: {exc}") from None


class _BusinessRuleTaskParser(BusinessRuleTaskParser):
    """SpiffArena names the decision with `spiffworkflow:calledDecisionId`, Camunda with `camunda:decisionRef`."""

    @staticmethod
    def get_decision_ref(node):
        return BusinessRuleTaskParser.get_decision_ref(node) or node.get(f"{{{CAMUNDA_NS}}}decisionRef")


class BundleParser(SpiffBpmnParser):
    """SpiffWorkflow's Spiff parser (DMN included) that also reads Camunda's decision references.

    BPMN files are checked against the XSD by lint, which names the element and line of every violation and
    only warns about attributes the schema does not know; the parser validates DMN files against theirs."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("businessRuleTask"): (_BusinessRuleTaskParser, BusinessRuleTask),
    }

    def add_bpmn_xml(self, bpmn, filename=None):
        validator, self.validator = self.validator, None
        try:
            super().add_bpmn_xml(bpmn, filename)
        finally:
            self.validator = validator

    def _add_correlations(self, bpmn):
        # SpiffWorkflow collects a message's correlation properties from every file it parses: two diagrams of one
        # bundle that both declare the message's correlation would make each of its events check it twice (and
        # the spec differ from the one parsed from either file alone). Keep one of each.
        super()._add_correlations(bpmn)
        for ref, properties in self.message_correlations.items():
            unique = {}
            for prop in properties:
                key = (prop.name, prop.retrieval_expression, tuple(prop.correlation_keys or ()))
                unique.setdefault(key, prop)
            self.message_correlations[ref] = list(unique.values())


@dataclass(frozen=True)
class DeployedCallee:
    """A deployed version of a process a call activity names, with the files it was deployed from."""

    key: str
    version: int
    files: dict[str, bytes]


@dataclass
class ParseContext:
    """What a bundle is checked against: deployed callees, operators, the deploy-time role map."""

    # (process id, pinned version or None for the latest) -> the deployed callee, or None when there is none
    resolve_callee: Callable[[str, int | None], DeployedCallee | None] | None = None
    deployed_processes: set[str] = field(default_factory=set)
    caught_messages: set[str] = field(default_factory=set)  # messages the latest deployed versions catch
    # process id -> the forms of its latest deployed version: a form the bundle lacks but that version has is
    # kept (with a warning), so re-uploading just a changed diagram works
    deployed_forms: Callable[[str], dict[str, dict]] | None = None
    operators: set[str] = field(default_factory=set)
    role_map: dict[str, str] | None = None


@dataclass
class ParsedDiagram:
    """A validated executable process: the spec plus what the engine reads from it."""

    process_id: str
    name: str
    source_xml: str
    sha256: str
    spec: object
    subprocess_specs: dict
    task_meta: dict[str, dict]
    start_form: str | None
    forms: dict[str, dict] = field(default_factory=dict)
    filename: str = "<diagram>"
    callees: dict[str, int] = field(default_factory=dict)  # deployed callee -> the version it runs


@dataclass
class BundleReport:
    """Everything validate says about a bundle: the processes it found and every finding."""

    diagrams: list[ParsedDiagram]
    findings: list[Finding]
    files: dict[str, bytes]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]


@dataclass
class _External:
    key: str
    spec: object
    subprocess_specs: dict
    bundle: Bundle
    documents: dict
    version: int
    versions: dict[str, int]


# -- the pipeline ---------------------------------------------------------------------------------
def _finding_from_validation(exc: ValidationException, filename: str, code: str = "invalid-bpmn") -> Finding:
    line = exc.line_number if isinstance(exc.line_number, int) else None
    message = str(exc).split("\n")[0]
    return Finding(code, message, file=exc.file_name or filename, element_id=exc.id or None,
                   element_name=exc.name or None, line=line)


def _read_documents(bundle: Bundle, findings: list[Finding]) -> tuple[dict, dict]:
    bpmn_docs, dmn_docs = {}, {}
    for name, content in bundle.files.items():
        lower = name.lower()
        if not lower.endswith((".bpmn", ".dmn")):
            continue
        try:
            root = _read_xml(content)
        except ValueError as exc:
            findings.append(Finding("unreadable-xml", str(exc), file=name))
            continue
        (bpmn_docs if lower.endswith(".bpmn") else dmn_docs)[name] = root
    return bpmn_docs, dmn_docs


def _decision_ids(dmn_docs: dict) -> set[str]:
    return {d.get("id") for root in dmn_docs.values() for d in root.iter("{*}decision") if d.get("id")}


def caught_messages(bpmn_docs: dict) -> set[str]:
    """The names of the messages some start, catch or boundary event or receive task of the documents waits for."""
    names = {}
    for root in bpmn_docs.values():
        for message in root.xpath("//bpmn:message", namespaces=NS):
            names[message.get("id")] = message.get("name") or message.get("id")
    caught = set()
    catchers = "//bpmn:startEvent|//bpmn:intermediateCatchEvent|//bpmn:boundaryEvent|//bpmn:receiveTask"
    for root in bpmn_docs.values():
        for node in root.xpath(catchers, namespaces=NS):
            for ref in [node.get("messageRef"), *node.xpath("bpmn:messageEventDefinition/@messageRef", namespaces=NS)]:
                if ref:
                    caught.add(names.get(ref, ref))
    return caught


def _called_versions(bpmn_docs: dict, local: set[str], findings: list[Finding]) -> dict[str, tuple[int | None, dict]]:
    """Each callee outside the bundle -> (the version the call activities pin or None: the latest, where called)."""
    wanted: dict[str, tuple[int | None, dict]] = {}
    for filename, root in bpmn_docs.items():
        for node in root.xpath("//bpmn:callActivity[@calledElement]", namespaces=NS):
            callee = node.get("calledElement")
            pinned = node.xpath(f"bpmn:extensionElements/spiff:properties/spiff:property"
                                f"[@name='{CALLED_VERSION_PROPERTY}']/@value", namespaces=NS)
            if not pinned and node.get(f"{{{CAMUNDA_NS}}}calledElementBinding") == "version":
                pinned = [node.get(f"{{{CAMUNDA_NS}}}calledElementVersion") or ""]
            where = {"file": filename, "element_id": node.get("id"), "element_name": node.get("name"),
                     "line": node.sourceline}
            version = None
            if pinned:
                try:
                    version = int(pinned[0])
                    if version < 1:
                        raise ValueError
                except ValueError:
                    findings.append(Finding("bad-called-version", f"calledVersion {pinned[0]!r} is not a version "
                                            "number", **where, fix="write a deployed version number such as 2"))
                    continue
            if callee in local:
                if version is not None:
                    findings.append(Finding("called-version-ignored", f"{callee!r} is in the bundle, so it runs the "
                                            f"bundle's version, not version {version}", **where, severity=WARNING))
                continue
            if callee in wanted and wanted[callee][0] != version:
                findings.append(Finding("called-version-conflict", f"call activities call {callee!r} at two different "
                                        "versions", **where, fix="pin the same calledVersion on every call activity"))
                continue
            wanted.setdefault(callee, (version, where))
    return wanted


def _new_parser(bpmn_docs: dict, dmn_docs: dict, findings: list[Finding]) -> BundleParser:
    parser = BundleParser(validator=_xsd_validator())
    for filename, root in dmn_docs.items():
        try:
            parser.add_dmn_xml(root, filename)
        except ValidationException as exc:
            findings.append(_finding_from_validation(exc, filename, "invalid-dmn"))
        except Exception as exc:  # SpiffWorkflow raises assorted errors on malformed decision tables
            findings.append(Finding("invalid-dmn", f"{type(exc).__name__}: {exc}", file=filename))
    for filename, root in bpmn_docs.items():
        try:
            parser.add_bpmn_xml(root, filename)
        except ValidationException as exc:
            findings.append(_finding_from_validation(exc, filename))
        except Exception as exc:  # SpiffWorkflow raises assorted errors on malformed models
            findings.append(Finding("invalid-bpmn", f"{type(exc).__name__}: {exc}", file=filename))
    return parser


def _resolve_externals(wanted: dict[str, tuple[int | None, dict]], ctx: ParseContext, findings: list[Finding],
                       chain: tuple[str, ...]) -> dict[str, _External]:
    """Parse the stored files of each deployed callee (in its own parser), recursively."""
    resolved: dict[str, _External] = {}
    for callee, (version, where) in wanted.items():
        if chain:  # inside a deployed callee: report at the bundle's own call activity
            where = {}
        what = f"version {version} of process {callee!r}" if version else f"process {callee!r}"
        if callee in chain or len(chain) >= MAX_CALL_DEPTH:
            findings.append(Finding("call-cycle", f"call activities call {what} again: {' -> '.join(chain)}",
                                    **where, fix="break the cycle of call activities"))
            continue
        deployed = ctx.resolve_callee(callee, version) if ctx.resolve_callee else None
        if deployed is None:
            findings.append(Finding(
                "callee-missing", f"a call activity calls {what}, which is neither in the bundle nor deployed",
                **where, fix="add the called diagram to the bundle, deploy it first, or correct calledElement or "
                "calledVersion"))
            continue
        sub_findings: list[Finding] = []
        bundle = Bundle(files=dict(deployed.files))
        bpmn_docs, dmn_docs = _read_documents(bundle, sub_findings)
        parser = _new_parser(bpmn_docs, dmn_docs, sub_findings)
        local = _callable(parser)
        nested = _resolve_externals(_called_versions(bpmn_docs, local, sub_findings), ctx, sub_findings,
                                    (*chain, callee))
        try:
            with _parser_warnings([], callee):  # said when the callee was deployed
                spec = parser.get_spec(callee)
                subprocess_specs = _subprocess_specs(parser, callee, nested)
        except _UnresolvedCallee as exc:
            sub_findings.append(Finding("callee-missing", f"it calls {exc.args[0]!r}, which cannot be resolved"))
        except ValidationException as exc:
            sub_findings.append(_finding_from_validation(exc, "<deployed>"))
        except Exception as exc:
            sub_findings.append(Finding("invalid-bpmn", f"{type(exc).__name__}: {exc}"))
        errors = [f for f in sub_findings if f.severity == ERROR]
        if errors:
            findings.append(Finding("callee-invalid", f"deployed {what} v{deployed.version} no longer parses: "
                                    f"{errors[0]}", **where, fix="deploy a corrected version of it"))
            continue
        versions = {callee: deployed.version}
        for ext in nested.values():
            versions.update(ext.versions)
        resolved[callee] = _External(callee, spec, subprocess_specs, bundle, bpmn_docs, deployed.version, versions)
    return resolved


@contextmanager
def _parser_warnings(findings: list[Finding], filename: str):
    """SpiffWorkflow's warnings while building specs (deprecated extensions) become warning findings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen = {f.message for f in findings}
    for warning in caught:
        message = f"SpiffWorkflow: {warning.message}"
        if message not in seen:
            seen.add(message)
            findings.append(Finding("parser-warning", message, file=filename, severity=WARNING))


class _UnresolvedCallee(Exception):
    """A call activity's callee could not be resolved; its finding was already made (callee-missing and kin)."""


def _subprocess_specs(parser: BundleParser, process_id: str, externals: dict[str, _External]) -> dict:
    specs = parser.get_subprocess_specs(process_id, require_call_activity_specs=False)
    for name in [n for n, s in specs.items() if s is None]:
        external = externals.get(name)
        if external is None:
            raise _UnresolvedCallee(name)
        specs[name] = external.spec
        for sub_name, sub_spec in external.subprocess_specs.items():
            specs.setdefault(sub_name, sub_spec)
    return specs


def _load_form(ref: str, near: str, bundles: list[Bundle], findings: list[Finding], element_id: str | None,
               schema: bool = True) -> dict | None:
    where = {"file": near, "element_id": element_id}
    if ref.startswith("/") or ".." in ref.replace("\\", "/").split("/"):
        findings.append(Finding("form-outside", f"form {ref!r} lies outside the diagram folder", **where,
                                fix="name a form file inside the bundle"))
        return None
    for bundle in bundles:
        name = bundle.lookup(ref, near)
        if name is None:
            continue
        try:
            form = json.loads(bundle.files[name].decode("utf-8"))
            if schema:
                check_form_schema(form)
            elif not isinstance(form, dict):
                raise ValueError("a UI schema must be a JSON object")
        except (UnicodeDecodeError, json.JSONDecodeError, SchemaError, ValueError) as exc:
            findings.append(Finding("invalid-form", f"form {ref!r} is not a valid JSON Schema: {exc}", **where))
            return None
        return form
    findings.append(Finding("form-missing", f"form {ref!r} does not exist in the bundle", **where,
                            fix="add the JSON Schema file to the bundle"))
    return None


def _start_form(root: etree._Element, process_id: str) -> str | None:
    forms = root.xpath("//bpmn:process[@id=$pid]/bpmn:startEvent//spiff:property[@name='formJsonSchemaFilename']"
                       "/@value", namespaces=NS, pid=process_id)
    return forms[0] if forms else None


def _callable(parser: BundleParser) -> set[str]:
    """Every process of the parsed documents. A pool marked not executable may still be called: SpiffWorkflow
    builds specs only of executable processes, so the called ones are marked executable for the parser (they
    are not deployed as processes of their own)."""
    called = parser.get_process_dependencies()
    for process_id, process_parser in parser.process_parsers.items():
        if process_id in called:
            process_parser.process_executable = True
    return set(parser.process_parsers)


def _executable(parser: BundleParser) -> list[tuple[str, str]]:
    """(process id, file) of every executable process (isExecutable absent or true, as SpiffWorkflow reads it)."""
    return [(pid, pp.filename) for pid, pp in parser.process_parsers.items()
            if pp.node.get("isExecutable", "true") == "true"]


def check_bundle(bundle: Bundle, ctx: ParseContext | None = None) -> BundleReport:
    """Run the whole parse pipeline over a bundle and return every process it could build and every finding."""
    ctx = ctx or ParseContext()
    findings: list[Finding] = [Finding("file-skipped", f"{name} is not a .bpmn, .dmn or .json file and was left out",
                                       file=name, severity=WARNING) for name in bundle.skipped]
    bpmn_docs, dmn_docs = _read_documents(bundle, findings)
    if not bpmn_docs and not findings:
        findings.append(Finding("no-diagram", "the bundle holds no .bpmn diagram", fix="add a .bpmn file"))
    for filename, root in bpmn_docs.items():
        findings.extend(juel.translate_document(root, filename))
    findings.extend(camunda_messages.translate_messages(bpmn_docs))
    bundle_processes = {p.get("id") for root in bpmn_docs.values()
                        for p in root.xpath("//bpmn:process", namespaces=NS) if p.get("id")}
    forms = set()
    for filename, root in bpmn_docs.items():
        for ref in root.xpath("//spiff:property[@name='formJsonSchemaFilename' or @name='formUiSchemaFilename']/@value",
                              namespaces=NS):
            if bundle.lookup(ref, filename):  # a form next to diagrams given one by one joins the bundle here
                forms.add(ref)
    if ctx.deployed_forms:
        for process_id in bundle_processes:
            forms |= set(ctx.deployed_forms(process_id))
    lint_ctx = lint.LintContext(
        forms=forms | {n for n in bundle.files if n.lower().endswith(".json")},
        dmn_ids=_decision_ids(dmn_docs),
        callable_processes=bundle_processes | set(ctx.deployed_processes),
        caught_messages=caught_messages(bpmn_docs) | set(ctx.caught_messages),
        operators=set(ctx.operators),
    )
    # Lint also compiles every script, condition and timer expression in the restricted evaluator (stage 3).
    for finding in lint.lint_bundle({n: r for n, r in {**bpmn_docs, **dmn_docs}.items()}, lint_ctx):
        # Two processes that message each other, deployed one at a time, could never be deployed if a message
        # nothing catches yet were refused: it is shown, and at run time it is kept as unmatched (messaging.py).
        findings.append(replace(finding, severity=WARNING) if finding.code in DEPLOY_WARNINGS else finding)
    linted = len(findings)

    parser = _new_parser(bpmn_docs, dmn_docs, findings)
    local = _callable(parser)
    externals = _resolve_externals(_called_versions(bpmn_docs, local, findings), ctx, findings, ())
    executable = _executable(parser)
    if not executable and not any(f.severity == ERROR for f in findings):
        # Also a bundle of only forms or decision tables: deploying it would make no version at all.
        findings.append(Finding("no-executable-process", "the bundle holds no executable process",
                                fix='set isExecutable="true" on the process (pool) that should run' if bpmn_docs
                                else "add the .bpmn diagram of the process to the upload"))
    diagrams = []
    for process_id, filename in executable:
        parsed = _build(parser, process_id, filename, bundle, bpmn_docs, externals, ctx, findings, lint_ctx.forms)
        if parsed is not None:
            diagrams.append(parsed)
    # One finding per problem: what the parser says again about an element lint already refused is dropped.
    refused = {(f.file, f.element_id) for f in findings[:linted] if f.severity == ERROR and f.element_id}
    findings = findings[:linted] + [f for f in findings[linted:] if (f.file, f.element_id) not in refused]
    return BundleReport(diagrams=diagrams, findings=findings, files=dict(bundle.files))


def _build(parser, process_id: str, filename: str, bundle: Bundle, documents: dict, externals: dict[str, _External],
           ctx: ParseContext, findings: list[Finding], available_forms: set[str]) -> ParsedDiagram | None:
    root = documents[filename]
    try:
        with _parser_warnings(findings, filename):
            spec = parser.get_spec(process_id)
            subprocess_specs = _subprocess_specs(parser, process_id, externals)
    except _UnresolvedCallee:
        return None
    except ValidationException as exc:
        findings.append(_finding_from_validation(exc, filename))
        return None
    except Exception as exc:  # SpiffWorkflow raises assorted errors on malformed models
        findings.append(Finding("invalid-bpmn", f"{type(exc).__name__}: {exc}", file=filename, element_id=process_id))
        return None
    used = [ext for name, ext in externals.items() if name in subprocess_specs]
    sources = [bundle, *(ext.bundle for ext in used)]
    every_document = dict(documents)
    for ext in used:
        for name, doc in ext.documents.items():
            every_document.setdefault(f"{ext.key}@{ext.version}/{name}", doc)
    available = set(available_forms) | {n for ext in used for n in ext.bundle.files if n.lower().endswith(".json")}
    meta = assignment.user_task_meta(spec, subprocess_specs, every_document, ctx.role_map, available_forms=available)
    findings.extend(meta.findings)
    task_meta = meta.task_meta
    start_form = _start_form(root, process_id)
    forms = dict(meta.forms)  # forms generated from Camunda formData
    if start_form is None:  # a Camunda start event's formData or .json formKey
        start_form, start = assignment.camunda_start_form(spec, root, filename, available)
        forms.update(start.forms)
        findings.extend(start.findings)
    refs = [(m.get("form"), m["bpmn_id"], True) for m in task_meta.values()]
    refs += [(m.get("ui_form"), m["bpmn_id"], False) for m in task_meta.values()]
    refs.append((start_form, process_id, True))
    previous = ctx.deployed_forms(process_id) if ctx.deployed_forms else {}
    for ref, element_id, is_schema in refs:
        if ref and ref not in forms:
            if ref in previous and not any(b.lookup(ref, filename) for b in sources):
                forms[ref] = previous[ref]
                findings.append(Finding("form-from-deployed", f"form {ref!r} is not in the bundle; the one of the "
                                        "deployed version is kept", file=filename, element_id=element_id,
                                        severity=WARNING))
                continue
            form = _load_form(ref, filename, sources, findings, element_id, is_schema)
            if form is not None:
                forms[ref] = form
    source = bundle.files[filename]
    encoding = root.getroottree().docinfo.encoding or "utf-8"
    callees = {}
    for ext in used:
        callees.update(ext.versions)
    return ParsedDiagram(
        process_id=process_id,
        name=parser.get_process_parser(process_id).node.get("name") or process_id,
        source_xml=source.decode(encoding, errors="replace"),
        sha256=hashlib.sha256(source).hexdigest(),
        spec=spec,
        subprocess_specs=subprocess_specs,
        task_meta=task_meta,
        start_form=start_form,
        forms=forms,
        filename=filename,
        callees=callees,
    )


def parse_bundle(bundle: Bundle, ctx: ParseContext | None = None) -> list[ParsedDiagram]:
    """Every executable process of a bundle, validated completely; InvalidDiagram listing the findings otherwise."""
    report = check_bundle(bundle, ctx)
    refuse(report.findings)
    return report.diagrams


def parse_diagram(source: bytes, bpmn_dir: Path, filename: str = "<diagram>") -> ParsedDiagram:
    """Validate one BPMN file holding exactly one executable process; its forms are read from `bpmn_dir`, and the
    other diagrams there count as deployed (their processes may be called, their catch events catch messages)."""
    bundle = Bundle(support_dir=Path(bpmn_dir))
    name = bundle.add(filename if filename.lower().endswith(".bpmn") else f"{filename}.bpmn", source)
    siblings = {}
    for path in sorted(Path(bpmn_dir).glob("*.bpmn")):
        if path.name != name:
            try:
                siblings[path.name] = parse_xml_safely(path.read_bytes(), path.name)
            except InvalidDiagram:
                continue
    ctx = ParseContext(caught_messages=caught_messages(siblings), operators=set(OPERATOR_NAMES), deployed_processes={
        p.get("id") for root in siblings.values() for p in root.xpath("//bpmn:process", namespaces=NS)})
    diagrams = parse_bundle(bundle, ctx)
    if len(diagrams) != 1:
        raise InvalidDiagram(f"{filename}: expected exactly one executable process, found {len(diagrams)}")
    return diagrams[0]
