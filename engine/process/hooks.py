"""Extension points of the process core: subjects plug in here, registered once by the composition root.

The core runs any diagram and knows nothing of what a process is about. A subject (rectification, campaigns,
...) extends it in three ways, each called inside the transaction that advances the instance:

* **completion checks**: a user task names one in its `completionCheck` property; the handler runs before the
  process moves on and refuses by raising (a checklist with unanswered items cannot be signed);
* **subject kinds**: an instance's business key `kind:id` ties it to a subject row (`hazard:12`); the kind's
  handler loads that row, says which link columns the instance's task rows carry, and takes over a new
  instance started for an existing row (a look-back's reopening message);
* **listeners**: after a user task completed, after an instance advanced (its task rows are projected), and
  after the messages that advance threw were routed;
* **contracts**: what a subject's code relies on in the shipped process it runs (task ids, data keys, messages;
  engine.process.contracts); a new version of that process that breaks one is refused at deploy.

A new hook is one handler and one registration line in `engine.assembly.register_subjects`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol

from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, WorkflowFailed
from engine.org.models import User
from engine.process.contracts import Contract
from engine.process.forms import evidence_fields
from engine.process.models import HumanTask, ProcessInstance


@dataclass
class Completion:
    """A user task being completed: what a completion check or a completion listener is given."""

    session: Session
    task: HumanTask
    spiff_task: Any
    user: User
    data: dict
    now: datetime
    subject: Any = None


@dataclass
class Advance:
    """One advance of one instance, as listeners see it."""

    projector: Any  # engine.process.projection.Projector: session, runtime, hooks, now and actor of the advance
    instance: ProcessInstance
    workflow: Any
    subject: Any
    open_tasks: list[HumanTask]
    created: list[HumanTask]
    new_subscriptions: set[str] = field(default_factory=set)

    @property
    def session(self) -> Session:
        return self.projector.session

    @property
    def now(self) -> datetime:
        return self.projector.now


class SubjectKind(Protocol):
    """What a subject does for instances whose business key names its kind."""

    def load(self, session: Session, subject_id: int) -> Any | None:
        """The subject row, or None."""

    def task_link(self, subject: Any) -> dict:
        """Link columns (of HumanTask and Event) that tie the instance's tasks to the subject."""

    def join(self, session: Session, subject: Any, instance: ProcessInstance) -> None:
        """A new instance was started for this existing subject (e.g. by a message): the subject follows it."""


class EvidenceKeeper(Protocol):
    """How a subject keeps the files a form's evidence field takes (engine.process.forms.EVIDENCE_FORMAT)."""

    def attach(self, services: Any, session: Session, subject: Any, user: Any, task: Any, field: str,
               keep: list[int], uploads: list[tuple[str, bytes]], now: datetime) -> list[int]:
        """Check that `keep` are the subject's files, store `uploads` (name, bytes) in this session; all their ids."""


Listener = Callable[[Advance], None]
# Labels for list rows: business keys of one kind (`campaign:3`, `campaign:3:unit:7`) → {key: {"kind", "id", "title"}};
# one query per kind and page, never one per row.
Describer = Callable[[Session, list[str]], dict[str, dict]]


class Hooks:
    """The registry the composition root fills; the core calls it and imports no subject."""

    def __init__(self):
        self.completion_checks: dict[str, Callable[[Completion], None]] = {}
        self.completion_listeners: list[Callable[[Completion], None]] = []
        self.advance_listeners: list[Listener] = []
        self.routed_listeners: list[Listener] = []
        self.subject_kinds: dict[str, SubjectKind] = {}
        self.describers: dict[str, Describer] = {}
        self.contracts: dict[str, list[Contract]] = {}
        self.evidence_keepers: dict[str, EvidenceKeeper] = {}

    # -- registration -------------------------------------------------------------------------------
    def add_completion_check(self, name: str, check: Callable[[Completion], None]) -> None:
        """Make `name` usable as a user task's `completionCheck`."""
        if name in self.completion_checks:
            raise ValueError(f"completionCheck {name!r} is registered twice")
        self.completion_checks[name] = check

    def on_completed(self, listener: Callable[[Completion], None]) -> None:
        """Call `listener` after each user task completed (the process has moved on; same transaction)."""
        self.completion_listeners.append(listener)

    def on_advanced(self, listener: Listener) -> None:
        """Call `listener` after each advance, once the instance's task rows are projected."""
        self.advance_listeners.append(listener)

    def on_routed(self, listener: Listener) -> None:
        """Call `listener` after each advance, once the messages it threw were routed."""
        self.routed_listeners.append(listener)

    def add_subject_kind(self, kind: str, handler: SubjectKind) -> None:
        """Tie business keys `kind:<id>` to a subject."""
        self.subject_kinds[kind] = handler

    def add_evidence_keeper(self, kind: str, keeper: EvidenceKeeper) -> None:
        """Let forms of instances whose subject is of `kind` take evidence files."""
        self.evidence_keepers[kind] = keeper

    def add_describer(self, kind: str, describer: Describer) -> None:
        """Label the rows of instances whose business key starts with `kind:` (inbox and instance lists)."""
        self.describers[kind] = describer

    def protect(self, process_key: str, contract: Contract) -> None:
        """Declare what a subject relies on in process `process_key`; deploys that break it are refused."""
        self.contracts.setdefault(process_key, []).append(contract)

    def contracts_for(self, process_key: str) -> list[Contract]:
        """The contracts registered for a process key (empty when nothing relies on it)."""
        return list(self.contracts.get(process_key, ()))

    def subject_owned(self, process_key: str) -> str | None:
        """Where a subject-owned process starts instead of the catalogue (its subject's page and API), or None when
        no subject relies on it: such processes are neither offered in 发起流程 nor started by key."""
        contracts = self.contracts_for(process_key)
        if not contracts:
            return None
        return "; ".join(c.started_through for c in contracts if c.started_through) or "its subject's own page"

    # -- what the core calls ------------------------------------------------------------------------
    def describe(self, session: Session, business_keys) -> dict[str, dict]:
        """The subject labels of these business keys, one describer call per kind present."""
        by_kind: dict[str, list[str]] = {}
        for key in {k for k in business_keys if k}:
            kind, sep, _ = key.partition(":")
            if sep and kind in self.describers:
                by_kind.setdefault(kind, []).append(key)
        labels: dict[str, dict] = {}
        for kind, keys in by_kind.items():
            labels.update(self.describers[kind](session, sorted(keys)))
        return labels

    def _kind_of(self, business_key: str | None) -> tuple[SubjectKind, int] | None:
        kind, _, ident = (business_key or "").partition(":")
        handler = self.subject_kinds.get(kind)
        if handler is None or not ident.isdigit():
            return None
        return handler, int(ident)

    def names_subject(self, business_key: str) -> bool:
        """True when a business key starts with a registered subject kind (`hazard:…`)."""
        kind, sep, _ = business_key.partition(":")
        return bool(sep) and kind in self.subject_kinds

    def subject_of(self, session: Session, instance: ProcessInstance) -> Any | None:
        """The subject row an instance's business key names, if its kind is registered."""
        found = self._kind_of(instance.business_key)
        return found[0].load(session, found[1]) if found else None

    def join_subject(self, session: Session, instance: ProcessInstance) -> Any | None:
        """A new instance whose business key names an existing subject: the subject follows it; returns it."""
        found = self._kind_of(instance.business_key)
        if found is None:
            return None
        handler, ident = found
        subject = handler.load(session, ident)
        if subject is None:
            raise WorkflowFailed(f"instance names {instance.business_key!r}, which does not exist")
        handler.join(session, subject, instance)
        return subject

    def task_link(self, instance: ProcessInstance, subject: Any) -> dict:
        """Link columns for the instance's new task rows."""
        found = self._kind_of(instance.business_key) if subject is not None else None
        return found[0].task_link(subject) if found else {}

    def attach_evidence(self, services: Any, session: Session, instance: ProcessInstance, subject: Any, user: Any,
                        task: Any, schema: dict | None, data: dict, uploads: dict[str, list[tuple[str, bytes]]],
                        now: datetime) -> dict:
        """The form data with each evidence field (engine.process.forms.EVIDENCE_FORMAT) holding the ids of its
        files: those it names, checked, and `uploads` (name, bytes), stored by the subject's keeper in the
        completion's session (a refused completion stores nothing). A process without a keeper takes no files."""
        fields = evidence_fields(schema)
        unknown = sorted(set(uploads) - set(fields))
        if unknown:
            message = "this field takes no files"
            raise InvalidFormData(f"{unknown[0]}: {message}", [{"field": name, "message": message} for name in unknown])
        if not isinstance(data, dict):
            return data  # validate_form_data names it
        keeper = self.evidence_keepers.get((instance.business_key or "").partition(":")[0]) if subject else None
        for name in fields:
            keep, files = data.get(name), uploads.get(name) or []
            if keep is None and not files:
                continue
            keep = keep or []
            if not isinstance(keep, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in keep):
                message = "a list of attachment ids"
                raise InvalidFormData(f"{name}: {message}", [{"field": name, "message": message}])
            if keeper is None:
                message = "this process keeps no evidence files"
                raise InvalidFormData(f"{name}: {message}", [{"field": name, "message": message}])
            data = {**data, name: keeper.attach(services, session, subject, user, task, name, keep, files, now)}
        return data

    def check_completion(self, name: str, completion: Completion) -> None:
        """Run the completion check a task names; an unknown name is the diagram's error."""
        check = self.completion_checks.get(name)
        if check is None:
            raise WorkflowFailed(f"task {completion.task.bpmn_id!r} names an unknown completionCheck {name!r}")
        check(completion)

    def completed(self, completion: Completion) -> None:
        for listener in self.completion_listeners:
            listener(completion)

    def advanced(self, advance: Advance) -> None:
        for listener in self.advance_listeners:
            listener(advance)

    def routed(self, advance: Advance) -> None:
        for listener in self.routed_listeners:
            listener(advance)


def subject_owned_refusal(process_key: str, where: str) -> InvalidFormData:
    """The 422 for starting a subject-owned process by key (API or 发起流程): it names where it starts instead."""
    return InvalidFormData(f"process {process_key!r} is started through its own page, not by key: {where}",
                           [{"field": "key", "message": f"subject-owned process; {where}"}])
