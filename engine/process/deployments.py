"""Deployed bundles: the stored files of each version, and deployed processes as callees of a new bundle."""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from engine.infra.errors import NotFound
from engine.process.diagrams import DeployedCallee, ParseContext, caught_messages, parse_xml_safely
from engine.process.models import DefinitionFile, ProcessDefinition
from engine.process.operators import OPERATOR_NAMES


_caught_cache: dict[tuple[str, str], frozenset[str]] = {}


def stored_files(s: Session, definition: ProcessDefinition) -> dict[str, bytes]:
    """name -> content of every file the version was deployed with, in upload order.

    A version deployed before bundles existed has no stored files: its diagram (source_xml) and the forms kept
    on the definition stand in for them."""
    if definition.deployment_id is not None:
        rows = s.scalars(select(DefinitionFile).options(undefer(DefinitionFile.content))
                         .where(DefinitionFile.deployment_id == definition.deployment_id)
                         .order_by(DefinitionFile.id))
        return {row.name: row.content for row in rows}
    files = {definition.filename or f"{definition.key}.bpmn": definition.source_xml.encode("utf-8")}
    for ref, schema in (definition.forms or {}).items():
        if ref != "__start__" and isinstance(schema, dict):
            files[ref] = json.dumps(schema, ensure_ascii=False, indent=2).encode("utf-8")
    return files


def file_list(s: Session, definition_id: int) -> list[dict]:
    """Name, size and sha256 of each stored file of one deployed version (NotFound for an unknown id)."""
    definition = _definition(s, definition_id)
    if definition.deployment_id is not None:
        rows = s.scalars(select(DefinitionFile).where(DefinitionFile.deployment_id == definition.deployment_id)
                         .order_by(DefinitionFile.id))
        return [{"name": r.name, "size": r.size, "sha256": r.sha256} for r in rows]
    return [{"name": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            for name, content in stored_files(s, definition).items()]


def file_content(s: Session, definition_id: int, name: str) -> bytes:
    """The content of one stored file of one deployed version (NotFound when it has no such file)."""
    files = stored_files(s, _definition(s, definition_id))
    if name not in files:
        raise NotFound(f"definition {definition_id} has no file {name!r}")
    return files[name]


def _definition(s: Session, definition_id: int) -> ProcessDefinition:
    definition = s.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound(f"no process definition {definition_id}")
    return definition


def parse_context(s: Session, role_map: dict[str, str] | None = None,
                  operators: set[str] | None = None) -> ParseContext:
    """What a bundle is checked against in `s`: the deployed processes (callees, forms, message catchers), the
    registered service-task operators (by default engine.process.operators) and the deploy-time role map."""

    def resolve(key: str, version: int | None) -> DeployedCallee | None:
        query = select(ProcessDefinition).where(ProcessDefinition.key == key)
        if version is not None:
            query = query.where(ProcessDefinition.version == version)
        definition = s.scalars(query.order_by(ProcessDefinition.version.desc())).first()
        if definition is None:
            return None
        return DeployedCallee(definition.key, definition.version, stored_files(s, definition))

    def forms_of(key: str) -> dict[str, dict]:
        definition = s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                               .order_by(ProcessDefinition.version.desc())).first()
        forms = definition.forms if definition is not None else {}
        return {ref: schema for ref, schema in (forms or {}).items() if ref != "__start__" and isinstance(schema, dict)}

    deployed = set(s.scalars(select(ProcessDefinition.key).distinct()))
    return ParseContext(resolve_callee=resolve, deployed_processes=deployed, deployed_forms=forms_of,
                        caught_messages=_caught_by_latest(s),
                        operators=set(OPERATOR_NAMES if operators is None else operators),
                        role_map=dict(role_map or {}))


def _caught_by_latest(s: Session) -> set[str]:
    """The messages the latest version of every deployed process waits for (its start and catch events)."""
    newest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.key).subquery())
    rows = s.scalars(select(ProcessDefinition).options(undefer(ProcessDefinition.source_xml))
                     .join(newest, (ProcessDefinition.key == newest.c.key)
                           & (ProcessDefinition.version == newest.c.version)))
    caught: set[str] = set()
    for definition in rows:
        key = (definition.key, definition.sha256)
        if key not in _caught_cache:  # a stored version never changes
            root = parse_xml_safely(definition.source_xml.encode("utf-8"), definition.filename or definition.key)
            _caught_cache[key] = frozenset(caught_messages({definition.key: root}))
        caught |= _caught_cache[key]
    return caught
