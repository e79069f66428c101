"""Camunda's message payloads, read as SpiffWorkflow's: `camunda:expression` and `camunda:resultVariable`.

A Camunda-modelled throw event says what it sends on its message event definition: `camunda:expression="approved"`
is the payload, and `camunda:resultVariable="ApprovalResult"` the variable the catching side stores it in (the
catch itself names no variable; with no result variable the catcher stores it as `<catch event id>_Response`, as
SpiffWorkflow's Camunda package does). SpiffWorkflow's Spiff parser, which reads every diagram here, knows only
`spiffworkflow:messagePayload` (on the throw) and `spiffworkflow:messageVariable` (on the catch), so the payload
would be lost and the catching process would wait on a variable it never gets.

A plain BPMN throw (neither Spiff nor Camunda payload) of a message with correlation properties sends the
variables those properties read (`messagePath` names), so the catcher can correlate it: SpiffWorkflow's BPMN
package sends the whole task data there, its Spiff package (which reads every diagram here) nothing at all.

`translate_messages(documents)` rewrites a bundle's diagrams in place before they are parsed: each Camunda throw
gets a `spiffworkflow:messagePayload` with its expression, and each catch of a message that some throw in the
bundle sends the Camunda way (and that names no variable of its own) gets a `spiffworkflow:messageVariable`. A
message thrown with two different result variables cannot be caught into one variable: a finding names it.
"""
from __future__ import annotations

from lxml import etree

from engine.process.findings import Finding

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "spiff": SPIFF_NS, "camunda": CAMUNDA_NS}
THROWS = {f"{{{BPMN_NS}}}intermediateThrowEvent", f"{{{BPMN_NS}}}endEvent"}
CATCHES = {f"{{{BPMN_NS}}}intermediateCatchEvent", f"{{{BPMN_NS}}}startEvent", f"{{{BPMN_NS}}}boundaryEvent"}
EXPRESSION = f"{{{CAMUNDA_NS}}}expression"
RESULT = f"{{{CAMUNDA_NS}}}resultVariable"


def _message_name(root, definition) -> str | None:
    ref = definition.get("messageRef")
    found = root.xpath("//bpmn:message[@id=$ref]", namespaces=NS, ref=ref) if ref else []
    return found[0].get("name") or ref if found else None


def _has(definition, tag: str) -> bool:
    return bool(definition.xpath(f".//spiff:{tag}", namespaces=NS))


def _extension(definition, tag: str, text: str) -> None:
    extensions = definition.find(f"{{{BPMN_NS}}}extensionElements")
    if extensions is None:
        extensions = etree.Element(f"{{{BPMN_NS}}}extensionElements")
        definition.insert(0, extensions)
    etree.SubElement(extensions, f"{{{SPIFF_NS}}}{tag}").text = text


def _correlation_names(documents: dict, message_id: str) -> list[str] | None:
    """The variables the message's correlation properties read (`messagePath`), if each is a plain name."""
    names = []
    for root in documents.values():
        for retrieval in root.xpath("//bpmn:correlationPropertyRetrievalExpression[@messageRef=$ref]",
                                    namespaces=NS, ref=message_id):
            for path in retrieval:
                text = (path.text or "").strip() if isinstance(path.tag, str) else ""
                if not text.isidentifier():
                    return None
                names.append(text)
    return sorted(set(names))


def translate_messages(documents: dict) -> list[Finding]:
    """Give Camunda message throws and their catches SpiffWorkflow's payload and variable, in place (see above)."""
    findings: list[Finding] = []
    result_vars: dict[str, set[str | None]] = {}  # message name -> result variables its Camunda throws name
    for root in documents.values():
        for definition in root.iter(f"{{{BPMN_NS}}}messageEventDefinition"):
            owner = definition.getparent()
            if owner.tag not in THROWS:
                continue
            name = _message_name(root, definition)
            if name is None or _has(definition, "messagePayload"):
                continue
            if definition.get(EXPRESSION) is None and definition.get(RESULT) is None:
                # A plain BPMN throw: SpiffWorkflow's BPMN reading sends the task's data, its Spiff reading nothing,
                # so a catcher reading a correlation property from the payload would fail. It sends what the
                # message's correlation properties read (each a plain variable name).
                names = _correlation_names(documents, definition.get("messageRef"))
                if names:
                    _extension(definition, "messagePayload", "{" + ", ".join(f"{n!r}: {n}" for n in names) + "}")
                continue
            if definition.get(EXPRESSION) is not None:
                _extension(definition, "messagePayload", definition.get(EXPRESSION))
            result_vars.setdefault(name, set()).add(definition.get(RESULT))
    for filename, root in documents.items():
        for definition in root.iter(f"{{{BPMN_NS}}}messageEventDefinition"):
            owner = definition.getparent()
            name = _message_name(root, definition)
            if owner.tag not in CATCHES or name not in result_vars or _has(definition, "messageVariable"):
                continue
            variables = result_vars[name]
            if len(variables) > 1:
                findings.append(Finding(
                    "camunda-result-variable",
                    f"message {name!r} is thrown with different camunda:resultVariable values "
                    f"({', '.join(sorted(v or '(none)' for v in variables))}): its catch cannot store them in one",
                    file=filename, element_id=owner.get("id"), element_name=owner.get("name"), line=owner.sourceline,
                    fix="give every throw of the message the same camunda:resultVariable"))
                continue
            variable = next(iter(variables)) or f"{owner.get('id')}_Response"
            _extension(definition, "messageVariable", variable)
    return findings
