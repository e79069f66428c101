"""The service layer: every state change is one verb, one unit of work, one commit."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState as SpiffTaskState
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.infra.clock import Clock
from engine.infra.db import UnitOfWork
from engine.infra.errors import (
    ConcurrentUpdate,
    InvalidDiagram,
    InvalidFormData,
    NotAllowed,
    NotFound,
    ScriptNotAllowed,
    StaleTask,
    WorkflowFailed,
)
from engine.org import accounts
from engine.org.models import ROLES
from engine.process import lifecycle
from engine.process.bundles import Bundle
from engine.process.deadlines import process_properties
from engine.process.deployments import parse_context
from engine.process.diagrams import BundleReport, check_bundle
from engine.process.findings import Finding, refuse
from engine.process.events import record_event
from engine.process.forms import validate_form_data
from engine.process.hooks import Completion, Hooks
from engine.process.instances import load_task, lock_instance
from engine.process.lifecycle import InstanceState, TaskState, Transition
from engine.process.messaging import deliver_pending
from engine.process.models import DefinitionFile, Deployment, HumanTask, ProcessDefinition, ProcessInstance
from engine.process.outbox import enqueue
from engine.process.projection import Projector
from engine.process.runtime import BpmnRuntime

DESIGNER_ROLES = {"process_designer", "admin"}
STARTER_PROPERTY = "candidateStarterRoles"


def starter_roles(definition: ProcessDefinition) -> set[str]:
    """The roles that may start a process: its `candidateStarterRoles` property, else designers and admins."""
    listed = process_properties(definition).get(STARTER_PROPERTY) or ""
    return {r.strip() for r in listed.split(",") if r.strip()} or set(DESIGNER_ROLES)


@dataclass(frozen=True)
class TimerSweep:
    """What one timer sweep did."""

    fired: int
    skipped: int


def _checked_role_map(role_map) -> dict[str, str]:
    """A deploy-time role map {lane or group: role code}, or InvalidDiagram naming what is wrong with it."""
    if role_map in (None, ""):
        return {}
    if not isinstance(role_map, dict):
        raise InvalidDiagram("role_map must be a JSON object {lane: role}",
                             [Finding("bad-role-map", "role_map must be a JSON object {lane: role}").as_dict()])
    bad = {k: v for k, v in role_map.items() if not isinstance(k, str) or v not in ROLES}
    if bad:
        message = f"role_map maps {', '.join(map(repr, bad))} to something that is not a role"
        raise InvalidDiagram(message, [Finding("bad-role-map", message, fix=f"use one of {', '.join(ROLES)}").as_dict()])
    return dict(role_map)


def _spec_fingerprint(spec_json: str) -> dict:
    """A stored spec without the file names it was parsed from: the same process under another file name is equal.

    The spec holds the decision tables and the callees' specs too, so a changed DMN or callee makes a new version."""
    dct = json.loads(spec_json)
    for spec in [dct.get("spec") or {}, *(dct.get("subprocess_specs") or {}).values()]:
        if isinstance(spec, dict):
            spec.pop("file", None)
    return dct


def _summary(slots: list) -> str:
    """One line: what a deployment made (key vN, new or from vM) and what it left unchanged."""
    made, kept = [], []
    for slot in slots:
        if isinstance(slot, ProcessDefinition):
            kept.append(f"{slot.key} v{slot.version}")
            continue
        parsed, _spec, _forms, latest = slot
        made.append(f"{parsed.process_id} v{latest.version + 1} (was v{latest.version})" if latest
                    else f"{parsed.process_id} v1 (new)")
    return "deployed " + ", ".join(made) + (f"; unchanged: {', '.join(kept)}" if kept else "")


class Services:
    """The engine's verbs; built once per process by the composition root and shared by CLI, web and scheduler."""

    def __init__(self, session_factory: sessionmaker, clock: Clock, bpmn_dir: Path, runtime: BpmnRuntime | None = None,
                 evidence_store=None, hooks: Hooks | None = None):
        self.session_factory = session_factory
        self.clock = clock
        self.bpmn_dir = Path(bpmn_dir)
        self.runtime = runtime or BpmnRuntime(clock)
        self.hooks = hooks or Hooks()  # filled by engine.assembly.register_subjects
        self.evidence_store = evidence_store  # where uploaded evidence lives (engine.attachments.EvidenceStore)

    def uow(self) -> UnitOfWork:
        """A new unit of work: one session, rolled back unless committed."""
        return UnitOfWork(self.session_factory)

    def projector(self, session: Session, now, actor_id: int | None) -> Projector:
        """The writer of one advance in `session`'s transaction, with the registered hooks."""
        return Projector(session, self.runtime, self.hooks, now, actor_id)

    def deliver_messages(self, limit: int = 200) -> int:
        """Deliver queued BPMN messages that are due, each in its own transaction (the scheduler's job)."""
        now = self.clock.now()
        return deliver_pending(self.session_factory, lambda session: self.projector(session, now, None), now, limit)

    def dispose(self) -> None:
        """Close the connection pool (end of a CLI command or of a process)."""
        self.session_factory.kw["bind"].dispose()

    # -- definitions ---------------------------------------------------------------------------
    def deploy_bundle(self, bundle: Bundle, user_id: int | None = None, role_map: dict | None = None,
                      replace: bool = False, warnings: list[Finding] | None = None) -> list[ProcessDefinition]:
        """Validate a bundle and store each executable process in it as the next version (one unit of work).

        A process whose diagram, spec, forms and task meta are all unchanged keeps its version; when nothing
        changed no deployment is recorded. The bundle's files are stored once with the deployment and can be
        downloaded for every version it made. `role_map` maps lanes that are not role codes to roles ("*": the
        default) and is stored with the deployment; `replace` records the deployer's explicit consent to replace.
        `warnings`, when given, receives the findings that did not refuse the bundle."""
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            self.require_designer(s, user_id)
            role_map = _checked_role_map(role_map)
            report = check_bundle(bundle, parse_context(s, role_map))
            refuse(report.findings)
            if warnings is not None:
                warnings.extend(report.findings)
            slots: list[ProcessDefinition | tuple] = []
            for parsed in report.diagrams:
                latest = self.latest_definition(s, parsed.process_id, required=False)
                spec_json = self.runtime.dump_spec(parsed.spec, parsed.subprocess_specs)
                forms = {**parsed.forms, "__start__": parsed.start_form}
                if latest is not None and (latest.sha256, _spec_fingerprint(latest.spec_json), latest.forms,
                                           latest.task_meta) == (parsed.sha256, _spec_fingerprint(spec_json), forms,
                                                                 parsed.task_meta):
                    slots.append(latest)
                else:
                    slots.append((parsed, spec_json, forms, latest))
            if all(isinstance(slot, ProcessDefinition) for slot in slots):
                return slots
            try:
                result = self._store_deployment(s, slots, report.files, now, user_id, role_map, replace)
                uow.commit()
            except IntegrityError:  # (key, version) is unique: a concurrent deploy took the version first
                raise ConcurrentUpdate("another deployment of the same processes was stored at the same time; "
                                       "deploy again") from None
            return result

    @staticmethod
    def _store_deployment(s: Session, slots: list, files: dict[str, bytes], now, user_id: int | None,
                          role_map: dict, replace: bool) -> list[ProcessDefinition]:
        deployment = Deployment(deployed_at=now, deployed_by_id=user_id, replace=bool(replace),
                                role_map=role_map, summary=_summary(slots))
        s.add(deployment)
        s.flush()
        for name, content in files.items():
            s.add(DefinitionFile(deployment_id=deployment.id, name=name, content=content, size=len(content),
                                 sha256=hashlib.sha256(content).hexdigest()))
        result = []
        for slot in slots:
            if isinstance(slot, ProcessDefinition):
                result.append(slot)
                continue
            parsed, spec_json, forms, latest = slot
            definition = ProcessDefinition(
                key=parsed.process_id, name=parsed.name, version=(latest.version + 1) if latest else 1,
                sha256=parsed.sha256, source_xml=parsed.source_xml, spec_json=spec_json, forms=forms,
                task_meta=parsed.task_meta, deployed_at=now, deployed_by_id=user_id,
                deployment_id=deployment.id, filename=parsed.filename, callees=parsed.callees,
            )
            s.add(definition)
            s.flush()
            record_event(s, now, "DefinitionDeployed", user_id, key=definition.key, version=definition.version,
                         sha256=definition.sha256, deployment_id=deployment.id, callees=parsed.callees)
            result.append(definition)
        return result

    def validate_bundle(self, bundle: Bundle, user_id: int | None = None,
                        role_map: dict | None = None) -> BundleReport:
        """What deploying the bundle would say, without deploying: every finding and the processes it found."""
        with self.uow() as uow:
            s = uow.session
            self.require_designer(s, user_id)
            return check_bundle(bundle, parse_context(s, _checked_role_map(role_map)))

    def deploy_definition(self, source: bytes, filename: str, user_id: int | None = None) -> ProcessDefinition:
        """Validate and store one BPMN file (forms from the bpmn folder) as the next version of its first process."""
        bundle = Bundle(support_dir=self.bpmn_dir)
        bundle.add(filename if filename.lower().endswith(".bpmn") else f"{filename}.bpmn", source)
        return self.deploy_bundle(bundle, user_id)[0]

    def deploy_directory(self, user_id: int | None = None) -> list[ProcessDefinition]:
        """Deploy every diagram shipped in the bpmn folder as one bundle (unchanged ones keep their version)."""
        bundle = Bundle(support_dir=self.bpmn_dir)
        for path in sorted(self.bpmn_dir.glob("*.bpmn")):
            bundle.add(path.name, path.read_bytes())
        return self.deploy_bundle(bundle, user_id)

    @staticmethod
    def require_designer(s: Session, user_id: int | None) -> None:
        """NotAllowed unless the user is a process designer or an administrator (None: the operator's CLI)."""
        if user_id is None:
            return  # the operator's own CLI and the shipped diagrams
        user = accounts.get_user(s, user_id)
        if not DESIGNER_ROLES & {g.role for g in user.grants}:
            raise NotAllowed("only a process designer or an administrator may deploy diagrams")

    def start_process(self, key: str, user_id: int, data: dict | None = None,
                      business_key: str | None = None) -> ProcessInstance:
        """Start the latest version of process `key` at its start event, with the start form's data (one unit of work).

        Who may start it: the roles in the process property `candidateStarterRoles` (comma-separated), by default
        process designers and administrators. A business key may not name a registered subject kind (`hazard:3`):
        those instances are started by their subject's own verb."""
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            user = accounts.get_user(s, user_id)
            definition = self.latest_definition(s, key)
            if not starter_roles(definition) & {g.role for g in user.grants}:
                raise NotAllowed(f"you may not start process {key!r}")
            if business_key and self.hooks.names_subject(business_key):
                raise InvalidFormData(f"business key {business_key!r} names a {business_key.partition(':')[0]}; "
                                      "start it through its own page or API",
                                      [{"field": "business_key", "message": "reserved for its subject"}])
            data = validate_form_data(definition.forms.get(definition.forms.get("__start__") or ""), data or {})
            school = accounts.nearest(s, user.org, "school")
            context = {"starter_id": user.id, "org_id": user.org_id, "school_id": school.id if school else None,
                       "bureau_id": school.parent_id if school else None}
            try:
                workflow = self.runtime.start(definition, {**context, **data})
            except (SpiffWorkflowException, ScriptNotAllowed) as exc:
                raise WorkflowFailed(f"process {key!r} could not start: {exc}") from None
            projector = self.projector(s, now, user.id)
            instance = projector.new_instance(definition, business_key or None)
            record_event(s, now, "ProcessStarted", user.id, instance_id=instance.id, key=definition.key,
                         version=definition.version, business_key=business_key or None)
            projector.persist(instance, workflow)
            uow.commit()
            return instance

    @staticmethod
    def latest_definition(s: Session, key: str, required: bool = True) -> ProcessDefinition | None:
        """The newest deployed version of process `key` (NotFound, unless not required)."""
        definition = s.scalars(
            select(ProcessDefinition).where(ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc())
        ).first()
        if definition is None and required:
            raise NotFound(f"process {key!r} has not been deployed")
        return definition

    # -- tasks: each verb asks engine.process.lifecycle whether the user may make its transition -----
    def claim_task(self, task_id: int, user_id: int) -> HumanTask:
        """Take a group task into your own inbox."""
        with self.uow() as uow:
            s = uow.session
            user = accounts.get_user(s, user_id)
            task = lifecycle.require(s, Transition.CLAIM, user, load_task(s, task_id, lock=True))
            if task.assignee_id != user.id:
                task.assignee_id, task.claimed_at = user.id, self.clock.now()
                record_event(s, self.clock.now(), "TaskClaimed", user.id, instance_id=task.instance_id,
                             hazard_id=task.hazard_id, task_id=task.id)
            uow.commit()
            return task

    def unclaim_task(self, task_id: int, user_id: int) -> HumanTask:
        """Give a claimed task back to its group."""
        with self.uow() as uow:
            s = uow.session
            user = accounts.get_user(s, user_id)
            task = lifecycle.require(s, Transition.UNCLAIM, user, load_task(s, task_id, lock=True))
            task.assignee_id, task.claimed_at = None, None
            record_event(s, self.clock.now(), "TaskUnclaimed", user.id, instance_id=task.instance_id,
                         hazard_id=task.hazard_id, task_id=task.id)
            uow.commit()
            return task

    def delegate_task(self, task_id: int, user_id: int, to_user_id: int, reason: str | None = None) -> HumanTask:
        """Hand a task to a colleague who holds the task's role at its organisation."""
        with self.uow() as uow:
            s = uow.session
            user = accounts.get_user(s, user_id)
            task = lifecycle.require(s, Transition.DELEGATE, user, load_task(s, task_id, lock=True))
            target = lifecycle.require_recipient(s, Transition.DELEGATE, task, to_user_id)
            task.assignee_id, task.claimed_at = target.id, self.clock.now()
            record_event(s, self.clock.now(), "TaskDelegated", user.id, instance_id=task.instance_id,
                         hazard_id=task.hazard_id, task_id=task.id, to_user_id=target.id, reason=reason)
            enqueue(s, self.clock.now(), "task_delegated",
                    {"task_id": task.id, "name": task.name, "by": user.display_name}, user_id=target.id)
            uow.commit()
            return task

    def complete_task(self, task_id: int, user_id: int, data: dict) -> HumanTask:
        """Submit a task's form: validate, advance the process, store state, tasks, events and outbox at once."""
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            user = accounts.get_user(s, user_id)
            # Lock order: instance first, then its task rows; every advancing verb follows it.
            instance_id = load_task(s, task_id).instance_id
            instance = lock_instance(s, instance_id)
            # Read again once the instance is locked, so the guard sees what was committed before the lock.
            task = lifecycle.require(s, Transition.COMPLETE, user, load_task(s, task_id))
            definition = instance.definition
            data = validate_form_data(definition.forms.get(task.form) if task.form else None, data)
            workflow = self.runtime.load(definition, instance.state_json)
            spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
            if spiff_task is None or spiff_task.state != SpiffTaskState.READY:  # Spiff's bit flags, not ours
                raise StaleTask(f"task {task_id} is no longer waiting for input")
            subject = self.hooks.subject_of(s, instance)
            completion = Completion(s, task, spiff_task, user, data, now, subject)
            check = ((definition.task_meta.get(task.bpmn_id) or {}).get("properties") or {}).get("completionCheck")
            if check:
                self.hooks.check_completion(check, completion)  # the diagram names it; a subject registered it
            try:
                self.runtime.run_task(workflow, spiff_task, data)
            except (SpiffWorkflowException, ScriptNotAllowed) as exc:
                raise WorkflowFailed(f"the process could not continue after {task.name}: {exc}") from None
            task.state, task.completed_at, task.completed_by_id = TaskState.COMPLETED, now, user.id
            if task.assignee_id is None:
                task.assignee_id, task.claimed_at = user.id, now
            record_event(s, now, "TaskCompleted", user.id, instance_id=instance.id, hazard_id=task.hazard_id,
                         task_id=task.id, bpmn_id=task.bpmn_id, name=task.name, form=data)
            self.projector(s, now, user.id).persist(instance, workflow, subject)
            self.hooks.completed(completion)  # e.g. the diagram's issueNotice (rectification/notices.py)
            try:
                uow.commit()
            except StaleDataError:
                raise ConcurrentUpdate(f"task {task_id}: the process was advanced by someone else; reload") from None
            return task

    # -- timers --------------------------------------------------------------------------------
    def fire_due_timers(self, limit: int = 500) -> TimerSweep:
        """Fire BPMN timers that are due; reads only due instances, each advanced in its own transaction."""
        now = self.clock.now()
        with self.uow() as uow:
            due_ids = list(uow.session.scalars(
                select(ProcessInstance.id).where(ProcessInstance.status == InstanceState.RUNNING,
                                                 ProcessInstance.next_timer_at <= now)
                .order_by(ProcessInstance.next_timer_at).limit(limit)
            ))
        fired = skipped = 0
        for instance_id in due_ids:
            if self._fire_instance_timers(instance_id, now):
                fired += 1
            else:
                skipped += 1
        return TimerSweep(fired=fired, skipped=skipped)

    def _fire_instance_timers(self, instance_id: int, now) -> bool:
        with self.uow() as uow:
            s = uow.session
            instance = lock_instance(s, instance_id, skip_locked=True)
            # Another process holds it, or already fired it: nothing to do (the sweep is idempotent).
            if instance is None or instance.next_timer_at is None or instance.next_timer_at > now:
                return False
            workflow = self.runtime.load(instance.definition, instance.state_json)
            before = instance.next_timer_at
            try:
                self.runtime.fire_timers(workflow)
            except (SpiffWorkflowException, ScriptNotAllowed) as exc:
                raise WorkflowFailed(f"instance {instance_id}: timer handling failed: {exc}") from None
            subject = self.hooks.subject_of(s, instance)
            record_event(s, now, "TimerFired", None, instance_id=instance.id, due_at=before.isoformat(),
                         **self.hooks.task_link(instance, subject))
            self.projector(s, now, None).persist(instance, workflow, subject)
            try:
                uow.commit()
            except StaleDataError:
                return False
            return True
