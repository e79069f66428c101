"""The service layer: every state change is one verb, one unit of work, one commit."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState as SpiffTaskState
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.infra.clock import Clock
from engine.infra.db import UnitOfWork
from engine.infra.errors import (
    ConcurrentUpdate,
    Conflict,
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
from engine.process import inbound, lifecycle, timer_starts
from engine.process.assignment import split_group
from engine.process.bell import read_follows_closed_tasks
from engine.process.bundles import Bundle
from engine.process.deadlines import process_properties
from engine.process.deployments import parse_context
from engine.process.diagrams import BundleReport, check_bundle
from engine.process.events import record_event
from engine.process.findings import Finding, refuse
from engine.process.forms import validate_form_data
from engine.process.hooks import Completion, Hooks, subject_owned_refusal
from engine.process.incidents import (
    Failure,
    admin_covers,
    checked_variables,
    describe_failure,
    get_incident,
    record_incident,
    resolve_incidents,
    set_workflow_variables,
)
from engine.process.instances import lock_instance
from engine.process.lifecycle import InstanceState, TaskState, Transition
from engine.process.messaging import deliver_pending
from engine.process.models import (
    DefinitionFile,
    Deployment,
    HumanTask,
    Incident,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    ProcessMessage,
)
from engine.process.outbox import enqueue
from engine.process.projection import Projector
from engine.process.replacing import change_summary, check_deploy, replace_needed, shipped_keys
from engine.process.runtime import BpmnRuntime

DESIGNER_ROLES = {"process_designer", "admin"}
ADMIN_ROLE = "admin"
STARTER_PROPERTY = "candidateStarterRoles"


def starter_roles(definition: ProcessDefinition) -> set[str]:
    """The roles that may start a process: its `candidateStarterRoles` property, else designers and admins."""
    listed = process_properties(definition).get(STARTER_PROPERTY) or ""
    return {r.strip() for r in listed.split(",") if r.strip()} or set(DESIGNER_ROLES)


class _StepFailed(Exception):
    """A background step raised; carries what failed out of its rolled-back unit of work."""

    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


@dataclass(frozen=True)
class TimerSweep:
    """What one timer sweep did."""

    fired: int
    skipped: int
    failed: int = 0  # instances whose timer step failed: each has an incident and left the sweep


def _checked_role_map(role_map) -> dict[str, str]:
    """A deploy-time role map {lane or group: role code}, or InvalidDiagram naming what is wrong with it."""
    if role_map in (None, ""):
        return {}
    if not isinstance(role_map, dict):
        raise InvalidDiagram("role_map must be a JSON object {lane: role}",
                             [Finding("bad-role-map", "role_map must be a JSON object {lane: role}").as_dict()])
    bad = {k: v for k, v in role_map.items()
           if not isinstance(k, str) or not isinstance(v, str) or split_group(v)[0] not in ROLES}
    if bad:
        message = f"role_map maps {', '.join(map(repr, bad))} to something that is not a role"
        fix = f"use one of {', '.join(ROLES)}, optionally role@orgExpression"
        raise InvalidDiagram(message, [Finding("bad-role-map", message, fix=fix).as_dict()])
    return dict(role_map)


def _spec_fingerprint(spec_json: str) -> dict:
    """A stored spec without the file names it was parsed from: the same process under another file name is equal.

    The spec holds the decision tables and the callees' specs too, so a changed DMN or callee makes a new version."""
    dct = json.loads(spec_json)
    for spec in [dct.get("spec") or {}, *(dct.get("subprocess_specs") or {}).values()]:
        if isinstance(spec, dict):
            spec.pop("file", None)
    return dct


@dataclass(frozen=True)
class _Change:
    """A process of the bundle that becomes a new version."""

    parsed: object  # engine.process.diagrams.ParsedDiagram
    spec_json: str
    forms: dict
    latest: ProcessDefinition | None
    summary: str
    replaced: bool


def _store_deployment(s: Session, slots: list, files: dict[str, bytes], now, user, role_map: dict,
                      replace: bool) -> list[ProcessDefinition]:
    """Add the deployment, its files and a definition row per changed process; the slots' order is kept."""
    user_id = user.id if user is not None else None
    deployment = Deployment(deployed_at=now, deployed_by_id=user_id, replace=bool(replace), role_map=role_map,
                            summary=_summary(slots))
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
        parsed, latest = slot.parsed, slot.latest
        definition = ProcessDefinition(
            key=parsed.process_id, name=parsed.name, version=(latest.version + 1) if latest else 1,
            sha256=parsed.sha256, source_xml=parsed.source_xml, spec_json=slot.spec_json, forms=slot.forms,
            task_meta=parsed.task_meta, role_map=role_map or None, deployed_at=now, deployed_by_id=user_id,
            deployment_id=deployment.id, filename=parsed.filename, callees=parsed.callees,
            change_summary=slot.summary, replaced=slot.replaced,
        )
        definition.deployed_by = user  # loaded now: the row is read after the session closed
        s.add(definition)
        s.flush()
        record_event(s, now, "DefinitionDeployed", user_id, key=definition.key, version=definition.version,
                     sha256=definition.sha256, deployment_id=deployment.id, callees=parsed.callees,
                     summary=slot.summary, replace=slot.replaced)
        result.append(definition)
    return result


def _summary(slots: list) -> str:
    """One line: what a deployment made (key vN, new or from vM) and what it left unchanged."""
    made, kept = [], []
    for slot in slots:
        if isinstance(slot, ProcessDefinition):
            kept.append(f"{slot.key} v{slot.version}")
            continue
        parsed, latest = slot.parsed, slot.latest
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
        self._shipped: dict[str, str] | None = None

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

    def send_message(self, name: str, correlation: dict | None, payload: dict | None,
                     user_id: int) -> inbound.MessageResult:
        """Deliver a message from outside: start a process by it or reach the instances waiting for it (one unit
        of work; engine/process/inbound.py says how it correlates and who may send)."""
        return inbound.send_message(self, name, correlation, payload, user_id)

    def fire_timer_starts(self, limit: int = 100) -> timer_starts.TimerStartSweep:
        """Start the processes whose timer start event is due, once per slot (engine/process/timer_starts.py)."""
        return timer_starts.fire_due(self, limit)

    def dispose(self) -> None:
        """Close the connection pool (end of a CLI command or of a process)."""
        self.session_factory.kw["bind"].dispose()

    # -- definitions ---------------------------------------------------------------------------
    def deploy_bundle(self, bundle: Bundle, user_id: int | None = None, role_map: dict | None = None,
                      replace: bool = False, warnings: list[Finding] | None = None) -> list[ProcessDefinition]:
        """Validate a bundle and store each executable process in it as the next version (one unit of work).

        A process whose diagram, spec, forms, task meta and role map are all unchanged keeps its version; when
        nothing changed no deployment is recorded. The bundle's files are stored once with the deployment and can
        be downloaded for every version it made. `role_map` maps lanes and candidate groups that are not role codes
        to roles ("*": the default) and is kept with the deployment and each version. A version that breaks a
        subject's contract is refused; replacing a live process (running instances or a contract), or taking a
        shipped process's id, needs `replace` by an administrator (engine.process.replacing); each version records
        a one-line summary of what changed. `warnings`, when given, receives the findings that did not refuse."""
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            user = self.require_designer(s, user_id)
            role_map = _checked_role_map(role_map)
            report = check_bundle(bundle, parse_context(s, role_map))
            refuse(report.findings)
            slots: list[ProcessDefinition | tuple] = []
            refusals: list[Finding] = []
            for parsed in report.diagrams:
                latest = self.latest_definition(s, parsed.process_id, required=False)
                spec_json = self.runtime.dump_spec(parsed.spec, parsed.subprocess_specs)
                forms = {**parsed.forms, "__start__": parsed.start_form}
                if latest is not None and (
                        latest.sha256, _spec_fingerprint(latest.spec_json), latest.forms, latest.task_meta,
                        latest.role_map or None) == (
                        parsed.sha256, _spec_fingerprint(spec_json), forms, parsed.task_meta, role_map or None):
                    slots.append(latest)
                    continue
                refusals += check_deploy(s, self.hooks, parsed, latest, user, replace, self.shipped_processes(),
                                         parsed.filename)
                replaced = bool(replace and replace_needed(s, self.hooks, parsed, latest, self.shipped_processes()))
                slots.append(_Change(parsed, spec_json, forms, latest, change_summary(latest, parsed), replaced))
            refuse(refusals)
            if warnings is not None:
                warnings.extend(report.findings)
            if all(isinstance(slot, ProcessDefinition) for slot in slots):
                return slots
            try:
                result = _store_deployment(s, slots, report.files, now, user, role_map, replace)
                uow.commit()
            except IntegrityError:  # (key, version) is unique: a concurrent deploy took the version first
                raise ConcurrentUpdate("another deployment of the same processes was stored at the same time; "
                                       "deploy again") from None
            return result

    def validate_bundle(self, bundle: Bundle, user_id: int | None = None,
                        role_map: dict | None = None) -> BundleReport:
        """What deploying the bundle would say, without deploying: every finding and the processes it found."""
        with self.uow() as uow:
            s = uow.session
            self.require_designer(s, user_id)
            return check_bundle(bundle, parse_context(s, _checked_role_map(role_map)))

    def deploy_definition(self, source: bytes, filename: str, user_id: int | None = None,
                          role_map: dict | None = None, replace: bool = False) -> ProcessDefinition:
        """Validate and store one BPMN file (forms from the bpmn folder) as the next version of its first process."""
        bundle = Bundle(support_dir=self.bpmn_dir)
        bundle.add(filename if filename.lower().endswith(".bpmn") else f"{filename}.bpmn", source)
        return self.deploy_bundle(bundle, user_id, role_map, replace)[0]

    def deploy_directory(self, user_id: int | None = None) -> list[ProcessDefinition]:
        """Deploy every diagram shipped in the bpmn folder as one bundle (unchanged ones keep their version).

        The shipped diagrams are the release's own: a changed one replaces the live version (`replace`), but a
        change that breaks a subject's contract is still refused."""
        bundle = Bundle(support_dir=self.bpmn_dir)
        for path in sorted(self.bpmn_dir.glob("*.bpmn")):
            bundle.add(path.name, path.read_bytes())
        return self.deploy_bundle(bundle, user_id, replace=True)

    def shipped_processes(self) -> dict[str, str]:
        """Each executable process id of the bpmn folder's diagrams → the sha256 of its file (read once)."""
        if self._shipped is None:
            self._shipped = shipped_keys(self.bpmn_dir)
        return self._shipped

    @staticmethod
    def require_designer(s: Session, user_id: int | None):
        """The user, or NotAllowed unless a process designer or an administrator (None: the operator's CLI)."""
        if user_id is None:
            return None  # the operator's own CLI and the shipped diagrams
        user = accounts.get_user(s, user_id)
        if not DESIGNER_ROLES & {g.role for g in user.grants}:
            raise NotAllowed("only a process designer or an administrator may deploy diagrams")
        return user

    def start_process(self, key: str, user_id: int, data: dict | None = None,
                      business_key: str | None = None) -> ProcessInstance:
        """Start the latest version of process `key` at its start event, with the start form's data (one unit of work).

        Who may start it: the roles in the process property `candidateStarterRoles` (comma-separated), by default
        process designers and administrators. A business key may not name a registered subject kind (`hazard:3`):
        those instances are started by their subject's own verb, and so are the subject-owned processes (a subject
        registered a contract for them: hazards, campaigns, self-checks, patrols), refused here naming their page."""
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            user = accounts.get_user(s, user_id)
            definition = self.latest_definition(s, key)
            where = self.hooks.subject_owned(key)
            if where:
                raise subject_owned_refusal(key, where)
            if not starter_roles(definition) & {g.role for g in user.grants}:
                raise NotAllowed(f"you may not start process {key!r}")
            if business_key and self.hooks.names_subject(business_key):
                raise InvalidFormData(f"business key {business_key!r} names a {business_key.partition(':')[0]}; "
                                      "start it through its own page or API",
                                      [{"field": "business_key", "message": "reserved for its subject"}])
            data = validate_form_data(definition.forms.get(definition.forms.get("__start__") or ""), data or {},
                                      now=self.clock.now())
            school = accounts.nearest(s, user.org, "school")
            context = {"starter_id": user.id, "org_id": user.org_id, "school_id": school.id if school else None,
                       "bureau_id": school.parent_id if school else None}
            try:
                workflow = self.runtime.start(definition, {**context, **data})
            except (SpiffWorkflowException, ScriptNotAllowed) as exc:
                raise WorkflowFailed(f"process {key!r} could not start: {describe_failure(exc).message}") from None
            projector = self.projector(s, now, user.id)
            instance = projector.new_instance(definition, business_key or None)
            record_event(s, now, "ProcessStarted", user.id, instance_id=instance.id, key=definition.key,
                         version=definition.version, business_key=business_key or None)
            projector.persist(instance, workflow)
            uow.commit()
            return instance

    def cancel_instance(self, instance_id: int, user_id: int, reason: str) -> ProcessInstance:
        """Stop a running instance (administrators only, with a reason), in one unit of work: its workflow is
        cancelled, its open tasks withdrawn, its timers and message subscriptions dropped, and an event recorded."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidFormData("a cancellation needs a reason", [{"field": "reason", "message": "required"}])
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            user = accounts.get_user(s, user_id)
            if ADMIN_ROLE not in {g.role for g in user.grants}:
                raise NotAllowed("only an administrator may cancel a process instance")
            instance = lock_instance(s, instance_id)
            if instance.status != InstanceState.RUNNING:
                raise Conflict(f"process instance {instance_id} is {instance.status}, not running")
            workflow = self.runtime.load(instance.definition, instance.state_json)
            workflow.cancel()
            open_tasks = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                 lifecycle.open_clause())))
            link = self.hooks.task_link(instance, self.hooks.subject_of(s, instance))
            for task in open_tasks:
                task.state, task.next_escalation_at = TaskState.CANCELLED, None
                record_event(s, now, "TaskCancelled", user.id, instance_id=instance.id, hazard_id=task.hazard_id,
                             task_id=task.id, bpmn_id=task.bpmn_id, name=task.name, reason=reason)
            s.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == instance.id))
            instance.state_json = self.runtime.dump(workflow)
            instance.status, instance.next_timer_at = InstanceState.CANCELLED, None
            instance.completed_at = instance.updated_at = now
            record_event(s, now, "InstanceCancelled", user.id, instance_id=instance.id, reason=reason,
                         tasks=[t.id for t in open_tasks], **link)
            try:
                uow.commit()
            except StaleDataError:
                raise ConcurrentUpdate(f"instance {instance_id} was advanced by someone else; reload") from None
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
            _, task = lifecycle.require_locked(s, Transition.CLAIM, user, task_id)
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
            _, task = lifecycle.require_locked(s, Transition.UNCLAIM, user, task_id)
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
            _, task = lifecycle.require_locked(s, Transition.DELEGATE, user, task_id)
            target = lifecycle.require_recipient(s, Transition.DELEGATE, task, to_user_id)
            task.assignee_id, task.claimed_at = target.id, self.clock.now()
            record_event(s, self.clock.now(), "TaskDelegated", user.id, instance_id=task.instance_id,
                         hazard_id=task.hazard_id, task_id=task.id, to_user_id=target.id, reason=reason)
            enqueue(s, self.clock.now(), "task_delegated",
                    {"task_id": task.id, "name": task.name, "by": user.display_name}, user_id=target.id)
            uow.commit()
            return task

    def complete_task(self, task_id: int, user_id: int, data: dict,
                      uploads: dict[str, list[tuple[str, bytes]]] | None = None) -> HumanTask:
        """Submit a task's form: validate, advance the process, store state, tasks, events and outbox at once.

        `uploads` maps a form's evidence fields (engine.process.forms.EVIDENCE_FORMAT) to files (name, bytes): the
        subject keeps them in the same transaction, beside the ids the data already names, and the field holds all
        their ids; a refused or failed completion keeps none.

        When a step after the task fails (a script, gateway condition, DMN table or service task), nothing is stored,
        the task stays open, the instance gets an incident (its own transaction, after the rollback) and the caller
        gets WorkflowFailed naming the element and the missing variable."""
        failed = None
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            user = accounts.get_user(s, user_id)
            # The engine's lock order (engine.process.instances): the instance, then the task, read once locked.
            instance, task = lifecycle.require_locked(s, Transition.COMPLETE, user, task_id)
            instance_id = instance.id
            definition = instance.definition
            workflow = self.runtime.load(definition, instance.state_json)
            spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
            if spiff_task is None or spiff_task.state != SpiffTaskState.READY:  # Spiff's bit flags, not ours
                raise StaleTask(f"task {task_id} is no longer waiting for input")
            schema = definition.forms.get(task.form) if task.form else None
            subject = self.hooks.subject_of(s, instance)
            data = self.hooks.attach_evidence(self, s, instance, subject, user, task, schema, data, uploads or {},
                                              now)
            # readOnly fields come from the task's data, never from the submitter (engine/process/forms.py).
            data = validate_form_data(schema, data, spiff_task.data, now=now)
            completion = Completion(s, task, spiff_task, user, data, now, subject)
            properties = (definition.task_meta.get(task.bpmn_id) or {}).get("properties") or {}
            check = properties.get("completionCheck")
            if check:
                self.hooks.check_completion(check, completion)  # the diagram names it; a subject registered it
            before = dict(spiff_task.data)
            try:
                # recordPerformerAs: the diagram keeps who did this step for later expressions (a rework's
                # preferredAssignee); the form data itself stays as submitted.
                performer = {properties["recordPerformerAs"]: user.id} if properties.get("recordPerformerAs") else {}
                self.runtime.run_task(workflow, spiff_task, {**data, **performer})
                task.state, task.completed_at, task.completed_by_id = TaskState.COMPLETED, now, user.id
                if task.assignee_id is None:
                    task.assignee_id, task.claimed_at = user.id, now
                record_event(s, now, "TaskCompleted", user.id, instance_id=instance.id, hazard_id=task.hazard_id,
                             task_id=task.id, bpmn_id=task.bpmn_id, name=task.name, form=data)
                read_follows_closed_tasks(s, now, [task.id])
                # Storing the advance evaluates the next tasks' candidates and queues service tasks' effects.
                self.projector(s, now, user.id).persist(instance, workflow, subject)
            except (SpiffWorkflowException, ScriptNotAllowed, WorkflowFailed) as exc:
                failed = describe_failure(exc, workflow)
            if failed is None:
                self.hooks.completed(completion)  # e.g. the diagram's issueNotice (rectification/notices.py)
                resolve_incidents(s, now, user.id, task_id=task.id)
                try:
                    uow.commit()
                except StaleDataError:
                    raise ConcurrentUpdate(f"task {task_id}: the process was advanced by someone else; reload") from None
                return task
        # The advance rolled back with the session; the incident is written on its own.
        with self.uow() as uow:
            record_incident(uow.session, now, instance_id, "task", failed, task_id=task_id,
                            form_data=json.loads(json.dumps(data, default=str)), submitted_by_id=user_id,
                            workflow_data=before)
            uow.commit()
        raise WorkflowFailed(f"the process could not continue after {task.name}: {failed.message}")

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
        outcomes = [self._fire_instance_timers(instance_id, now) for instance_id in due_ids]
        return TimerSweep(fired=outcomes.count("fired"), skipped=outcomes.count("skipped"),
                          failed=outcomes.count("failed"))

    def _fire_instance_timers(self, instance_id: int, now) -> str:
        """Fire one instance's due timers; a failure becomes an incident and takes the instance off the sweep."""
        try:
            with self.uow() as uow:
                s = uow.session
                instance = lock_instance(s, instance_id, skip_locked=True)
                # Another process holds it, or already fired it: nothing to do (the sweep is idempotent).
                if instance is None or instance.next_timer_at is None or instance.next_timer_at > now:
                    return "skipped"
                before = instance.next_timer_at
                self._advance_stored(s, instance, now, None, "TimerFired", due_at=before.isoformat())
                resolve_incidents(s, now, None, instance_id=instance.id, kinds=("timer",))  # it fired after all
                try:
                    uow.commit()
                except StaleDataError:
                    return "skipped"
                return "fired"
        except Exception as exc:  # noqa: BLE001 - one failing instance must not stop the sweep for the others
            failure = exc.failure if isinstance(exc, _StepFailed) else describe_failure(exc)
        self._record_background_incident(instance_id, "timer", failure, now)
        return "failed"

    def _advance_stored(self, s: Session, instance: ProcessInstance, now, actor_id: int | None, event_kind: str,
                        **event_data) -> None:
        """Let an instance's due timers fire and run its engine steps from its stored state, and persist it."""
        workflow = self.runtime.load(instance.definition, instance.state_json)
        try:
            self.runtime.fire_timers(workflow)
            subject = self.hooks.subject_of(s, instance)
            record_event(s, now, event_kind, actor_id, instance_id=instance.id, **event_data,
                         **self.hooks.task_link(instance, subject))
            self.projector(s, now, actor_id).persist(instance, workflow, subject)
        except (SpiffWorkflowException, ScriptNotAllowed, WorkflowFailed) as exc:
            raise _StepFailed(describe_failure(exc, workflow)) from exc

    def _record_background_incident(self, instance_id: int, kind: str, failure: Failure, now) -> None:
        # Its own transaction: the failed step rolled back. A failing timer leaves the sweep until it is retried.
        with self.uow() as uow:
            s = uow.session
            instance = lock_instance(s, instance_id)
            try:  # the data of a waiting task names the instance's school (the workflow's own data rarely does)
                workflow = self.runtime.load(instance.definition, instance.state_json)
                waiting = workflow.get_tasks(state=SpiffTaskState.WAITING | SpiffTaskState.READY)
                workflow_data = waiting[0].data if waiting else workflow.data
            except Exception:  # noqa: BLE001 - the incident matters more than its organisation
                workflow_data = None
            if kind == "timer":
                instance.next_timer_at = None
            record_incident(s, now, instance_id, kind, failure, workflow_data=workflow_data)
            uow.commit()

    # -- incidents -----------------------------------------------------------------------------
    def set_instance_variables(self, instance_id: int, user_id: int, values: dict | None = None,
                               remove: list | None = None) -> ProcessInstance:
        """An administrator fixes a running instance's data (set and remove variables), audited; then retry."""
        values, remove = checked_variables(values, remove)
        with self.uow() as uow:
            s = uow.session
            now = self.clock.now()
            user = accounts.get_user(s, user_id)
            if not any(g.role == "admin" for g in user.grants):
                raise NotAllowed("only an administrator may change a process instance's variables")
            instance = lock_instance(s, instance_id)
            workflow = self.runtime.load(instance.definition, instance.state_json)
            if not admin_covers(s, user, instance, workflow.data):
                raise NotFound(f"process instance {instance_id} does not exist")
            if instance.status != InstanceState.RUNNING:
                raise Conflict(f"process instance {instance_id} is {instance.status}; only running ones change")
            old = set_workflow_variables(workflow, values, remove)
            try:
                instance.state_json = self.runtime.dump(workflow)
            except Exception as exc:  # noqa: BLE001 - e.g. a value that is not JSON
                raise InvalidFormData(f"the variables cannot be stored: {exc}",
                                      [{"field": "variables", "message": str(exc)}]) from None
            instance.updated_at = now
            record_event(s, now, "VariablesChanged", user.id, instance_id=instance.id,
                         set=json.loads(json.dumps(values, default=str)), removed=remove,
                         before=json.loads(json.dumps(old, default=str)))
            uow.commit()
            return instance

    def retry_incident(self, incident_id: int, user_id: int) -> Incident:
        """Run an incident's failed step again: resolved if it passes, else WorkflowFailed with the new message."""
        now = self.clock.now()
        with self.uow() as uow:
            s = uow.session
            user = accounts.get_user(s, user_id)
            incident = get_incident(s, user, incident_id)
            if incident.status != "open":
                raise Conflict(f"incident {incident_id} is already resolved")
            kind, instance_id, task_id = incident.kind, incident.instance_id, incident.task_id
            form_data, submitted_by = incident.form_data, incident.submitted_by_id
            record_event(s, now, "IncidentRetried", user.id, instance_id=instance_id, incident_id=incident.id)
            uow.commit()
        if kind == "task":
            with self.uow() as uow:
                still_open = uow.session.get(HumanTask, task_id).state == TaskState.READY
                if not still_open:  # cancelled meanwhile (a boundary event, a new run): nothing left to retry
                    resolve_incidents(uow.session, now, user_id, task_id=task_id)
                    uow.commit()
            if still_open:
                # The same form again, as the user who submitted it; success resolves the incident in that commit.
                self.complete_task(task_id, submitted_by, form_data or {})
        elif kind == "message":
            self._retry_message(incident_id, now)
        else:
            self._retry_engine_steps(incident_id, instance_id, kind, user_id, now)
        with self.uow() as uow:
            return uow.session.get(Incident, incident_id)

    def _retry_engine_steps(self, incident_id: int, instance_id: int, kind: str, user_id: int, now) -> None:
        failure = None
        try:
            with self.uow() as uow:
                s = uow.session
                instance = lock_instance(s, instance_id)
                if instance.status != InstanceState.RUNNING:
                    raise Conflict(f"process instance {instance_id} is {instance.status}")
                self._advance_stored(s, instance, now, user_id, "IncidentStepRun", incident_id=incident_id)
                resolve_incidents(s, now, user_id, instance_id=instance_id, kinds=(kind,))
                try:
                    uow.commit()
                except StaleDataError:
                    raise ConcurrentUpdate(f"instance {instance_id} was advanced by someone else; reload") from None
                return
        except _StepFailed as exc:
            failure = exc.failure
        self._record_background_incident(instance_id, kind, failure, now)
        raise WorkflowFailed(f"the step failed again: {failure.message}")

    def _retry_message(self, incident_id: int, now) -> None:
        with self.uow() as uow:
            incident = uow.session.get(Incident, incident_id)
            message = uow.session.get(ProcessMessage, incident.message_id)
            if message is not None and message.status in ("failed", "pending"):
                # Its attempts are kept: the delivery resolves the incident because an earlier attempt failed.
                message.status, message.next_attempt_at = "pending", now
            else:  # delivered or dropped meanwhile: nothing is left to retry
                resolve_incidents(uow.session, now, None, message_id=incident.message_id)
            uow.commit()
        self.deliver_messages()
        with self.uow() as uow:
            incident = uow.session.get(Incident, incident_id)
            if incident.status == "open":
                raise WorkflowFailed(f"the message delivery failed again: {incident.message}")
