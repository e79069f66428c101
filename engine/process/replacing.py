"""Deploying over what is live: contracts, the explicit `replace`, and a one-line summary of what changed.

A new version of a process that has running instances, or that a subject's code relies on (a contract), changes
what every new start goes through; it needs an explicit `replace` by an administrator. A first deployment whose key
is a shipped process's key, with other content than the shipped file, would take that process's place: the same.
A version that breaks a contract is refused whoever deploys it (engine.process.contracts).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidDiagram
from engine.process.contracts import check_contracts
from engine.process.diagrams import parse_xml_safely
from engine.process.findings import Finding
from engine.process.lifecycle import InstanceState
from engine.process.models import ProcessDefinition, ProcessInstance

ADMIN_ROLE = "admin"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
USER_TASK = f"{{{BPMN_NS}}}userTask"
SUMMARY_MAX = 500
_REPLACE_FIX = ("an administrator deploys it with replace (API form field replace=true, CLI --replace), "
                "or deploy it under another process id")


def running_instances(session: Session, key: str) -> int:
    """How many instances of any version of process `key` are running."""
    return session.scalar(
        select(func.count()).select_from(ProcessInstance).join(ProcessDefinition)
        .where(ProcessDefinition.key == key, ProcessInstance.status == InstanceState.RUNNING)) or 0


def is_admin(user) -> bool:
    """An administrator, or the operator (no user: the CLI without --user, the shipped diagrams at upgrade)."""
    return user is None or any(g.role == ADMIN_ROLE for g in user.grants)


def _relied(contracts) -> str:
    subjects = sorted({c.subject.split(" (")[0] for c in contracts})
    return f"the {', '.join(subjects)} code relies on it" if subjects else ""


def replace_needed(session: Session, hooks, parsed, previous: ProcessDefinition | None,
                   shipped: dict[str, str] | None = None) -> str | None:
    """Why deploying `parsed` over `previous` (the latest version, or None) needs `replace`; None when it does not.

    `shipped` maps each shipped process key to its file's sha256 (a first deployment of that very file is the
    shipped process, not a collision)."""
    key = parsed.process_id
    contracts = hooks.contracts_for(key)
    relied = _relied(contracts)
    if previous is not None:
        running = running_instances(session, key)
        reasons = [r for r in (f"{running} instance(s) are running" if running else "", relied) if r]
        return f"process {key!r} v{previous.version} is live ({'; '.join(reasons)})" if reasons else None
    shipped_sha = (shipped or {}).get(key)
    if (shipped_sha is not None and shipped_sha != parsed.sha256) or (shipped_sha is None and contracts):
        return f"process id {key!r} is a shipped process's id" + (f" ({relied})" if relied else "")
    return None


def check_deploy(session: Session, hooks, parsed, previous: ProcessDefinition | None, user, replace: bool,
                 shipped: dict[str, str] | None = None, filename: str | None = None) -> list[Finding]:
    """Why deploying `parsed` over `previous` (the latest version, or None) by `user` is refused; [] when it may go:
    the contracts registered for its key, then whether it needs `replace` by an administrator (replace_needed)."""
    key = parsed.process_id
    findings = check_contracts(hooks.contracts_for(key), parsed, filename)
    why = replace_needed(session, hooks, parsed, previous, shipped)
    if why is None or (replace and is_admin(user)):
        return findings
    if previous is None:
        findings.append(Finding(
            "shipped-key", f"{why}: deploying this diagram under it would take that process's place", file=filename,
            element_id=key, fix="give the process another id, or " + _REPLACE_FIX))
    elif not replace:
        findings.append(Finding(
            "replace-required", f"{why}: a new version replaces it for every new start, so it needs an explicit "
            "replace", file=filename, element_id=key, fix=_REPLACE_FIX))
    else:
        findings.append(Finding(
            "replace-admin-only", f"{why}: only an administrator may replace it", file=filename, element_id=key,
            fix="ask an administrator to deploy it with replace"))
    return findings


def shipped_keys(bpmn_dir: Path) -> dict[str, str]:
    """Each executable process id of the diagrams shipped in `bpmn_dir` → the sha256 of its file."""
    keys: dict[str, str] = {}
    for path in sorted(Path(bpmn_dir).glob("*.bpmn")):
        source = path.read_bytes()
        try:
            root = parse_xml_safely(source, path.name)
        except InvalidDiagram:
            continue
        for pid in root.xpath("//bpmn:process[@isExecutable='true']/@id", namespaces={"bpmn": BPMN_NS}):
            keys[pid] = hashlib.sha256(source).hexdigest()
    return keys


# -- what changed ------------------------------------------------------------------------------------------
def _process_element(source_xml: str, key: str):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)
    root = etree.fromstring(source_xml.encode("utf-8"), parser=parser)
    found = root.xpath("//bpmn:process[@id=$key]", namespaces={"bpmn": BPMN_NS}, key=key)
    return found[0] if found else None


def _signature(node) -> tuple:
    """An element's own content: tag, attributes, text, and its children without ids (children with ids by id)."""
    parts = []
    for child in node:
        if not isinstance(child.tag, str):
            continue
        parts.append(("ref", child.get("id")) if child.get("id") else _signature(child))
    attrs = {k: v for k, v in node.attrib.items() if not (k == "name" and node.tag == USER_TASK)}  # renames apart
    return (node.tag, tuple(sorted(attrs.items())), (node.text or "").strip(), tuple(parts))


def _elements(process) -> tuple[dict[str, str], dict[str, tuple]]:
    """(user task id → name, every element with an id → its signature) of one process element."""
    tasks, others = {}, {}
    if process is None:
        return tasks, others
    for node in process.iter():
        if node is process or not isinstance(node.tag, str) or not node.get("id"):
            continue
        if node.tag == USER_TASK:
            tasks[node.get("id")] = node.get("name") or ""
        others[node.get("id")] = _signature(node)
    return tasks, others


def _label(task_id: str, name: str) -> str:
    return f"{task_id} ({name})" if name and name != task_id else task_id


def change_summary(previous: ProcessDefinition | None, parsed) -> str:
    """One line: the user tasks added, removed and renamed against `previous`, and how many other elements changed.

    Other elements are every element with an id in the process (tasks, events, gateways, flows, lanes ...), a user
    task counting when more than its name changed; the diagram's layout is not compared."""
    new_tasks, new_others = _elements(_process_element(parsed.source_xml, parsed.process_id))
    if previous is None:
        return f"first version: {len(new_tasks)} user task(s), {len(new_others) - len(new_tasks)} other element(s)"
    old_tasks, old_others = _elements(_process_element(previous.source_xml, previous.key))
    parts = []
    added = [_label(t, new_tasks[t]) for t in new_tasks if t not in old_tasks]
    removed = [_label(t, old_tasks[t]) for t in old_tasks if t not in new_tasks]
    renamed = [f"{t} {old_tasks[t] or '-'} → {new_tasks[t] or '-'}" for t in new_tasks
               if t in old_tasks and old_tasks[t] != new_tasks[t]]
    if added:
        parts.append("user tasks added: " + ", ".join(added))
    if removed:
        parts.append("removed: " + ", ".join(removed))
    if renamed:
        parts.append("renamed: " + ", ".join(renamed))
    counted = new_tasks.keys() ^ old_tasks.keys()  # the user tasks added or removed, listed above
    changed = sum(1 for i in (new_others.keys() | old_others.keys()) - counted
                  if new_others.get(i) != old_others.get(i))
    if changed or not parts:
        parts.append(f"{changed} other element(s) added, removed or changed" if changed else
                     "no element changed (layout, diagram or comments only)")
    line = f"against v{previous.version}: " + "; ".join(parts)
    return line if len(line) <= SUMMARY_MAX else line[:SUMMARY_MAX - 1] + "…"
