"""流程设计's read model: every deployed process with its versions, who deployed each one when, which subjects
protect it (a registered contract) and how many instances run on each version, and one version's diagram."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from engine.infra.errors import NotFound
from engine.process import deployments
from engine.process.hooks import Hooks
from engine.process.instance_views import latest_definitions
from engine.process.lifecycle import InstanceState
from engine.process.models import ProcessDefinition, ProcessInstance


@dataclass(frozen=True)
class ProcessSummary:
    definition: ProcessDefinition  # the latest version
    versions: int
    running: int  # running instances over every version
    protected_by: tuple[str, ...]  # the subjects whose contracts protect the process; empty: not protected


@dataclass(frozen=True)
class VersionRow:
    definition: ProcessDefinition
    running: int
    files: list[dict]  # deployments.file_list


def protected_by(hooks: Hooks, key: str) -> tuple[str, ...]:
    """The subjects whose registered contracts protect process `key` (empty when none does)."""
    return tuple(sorted({c.subject.split(" (")[0] for c in hooks.contracts_for(key)}))


def running_by_version(s: Session, key: str | None = None) -> dict[int, int]:
    """definition id -> running instances, in one grouped COUNT (of process `key` only, when given)."""
    query = (select(ProcessInstance.definition_id, func.count()).where(ProcessInstance.status == InstanceState.RUNNING)
             .group_by(ProcessInstance.definition_id))
    if key is not None:
        query = query.join(ProcessDefinition).where(ProcessDefinition.key == key)
    return dict(s.execute(query).all())


def process_summaries(s: Session, hooks: Hooks) -> list[ProcessSummary]:
    """Every deployed process, by name: its latest version, version count, running instances and protection."""
    versions = dict(s.execute(select(ProcessDefinition.key, func.count()).group_by(ProcessDefinition.key)).all())
    running_by_key = dict(s.execute(
        select(ProcessDefinition.key, func.count()).join(ProcessInstance)
        .where(ProcessInstance.status == InstanceState.RUNNING).group_by(ProcessDefinition.key)).all())
    return [ProcessSummary(d, versions.get(d.key, 1), running_by_key.get(d.key, 0), protected_by(hooks, d.key))
            for d in latest_definitions(s)]


def version_rows(s: Session, key: str) -> list[VersionRow]:
    """Every version of process `key`, newest first, with its running instances and files (NotFound: no such key)."""
    definitions = list(s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                                 .order_by(ProcessDefinition.version.desc())))
    if not definitions:
        raise NotFound(f"no deployed process {key!r}")
    running = running_by_version(s, key)
    return [VersionRow(d, running.get(d.id, 0), deployments.file_list(s, d.id)) for d in definitions]


def version_definition(s: Session, key: str, version: int) -> ProcessDefinition:
    """Version `version` of process `key` with its diagram loaded (NotFound when there is no such version)."""
    definition = s.scalars(select(ProcessDefinition).options(undefer(ProcessDefinition.source_xml))
                           .where(ProcessDefinition.key == key, ProcessDefinition.version == version)).first()
    if definition is None:
        raise NotFound(f"process {key!r} has no version {version}")
    return definition
