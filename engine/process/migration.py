"""Moving running instances of version N of a process onto a later version, where SpiffWorkflow's diff says it is safe.

`plan_migration` (dry run) and `migrate` (the verb) compare each running instance's task tree with the target
version (SpiffWorkflow.bpmn.util.diff: SpecDiff, WorkflowDiff, migrate_workflow). An instance can move when every
task it has actually reached (completed, waiting, ready, running) still exists in the target version, in its
subprocesses too, and it is not inside a multi-instance activity that the new version changes (SpiffWorkflow would
reset the items' data).
Tasks not reached yet below a ready or waiting task do not count: the migration resets those ready and waiting
tasks and predicts what follows them again from the new version (tasks whose spec did not change keep their data
and their timers' due times).

Each instance moves in its own transaction under its instance lock: the tree is migrated, restored once from its
stored form against the new version (so a state that would not load is never written), its task rows re-pointed
(ids, forms, stages of the tasks still open), and an `InstanceMigrated` event recorded. Instances that cannot move
stay on their version and finish there, as before; the report says why.
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import NotAllowed, NotFound
from engine.org import accounts
from engine.process.events import record_event
from engine.process.instances import lock_instance
from engine.process.lifecycle import InstanceState
from engine.process.lifecycle import TaskState as RowState
from engine.process.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.process.replacing import is_admin

_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_AHEAD = TaskState.FUTURE | TaskState.PREDICTED_MASK
_RESET = TaskState.READY | TaskState.WAITING  # what migrate_workflow resets and predicts again


@dataclass
class InstanceMove:
    """One running instance: whether it can move (and if not, why), and whether it moved."""

    instance_id: int
    business_key: str | None
    safe: bool
    reasons: list[str] = field(default_factory=list)
    moved: bool = False


@dataclass
class MigrationReport:
    key: str
    from_version: int
    to_version: int
    to_definition_id: int
    dry_run: bool
    instances: list[InstanceMove] = field(default_factory=list)


def _describe(task) -> str:
    spec = task.task_spec
    name = getattr(spec, "bpmn_name", None)
    ident = getattr(spec, "bpmn_id", None) or spec.name
    return f"{ident!r}" + (f" ({name})" if name else "")


def _ahead(task) -> bool:
    """Not reached yet, below a ready or waiting task: the migration drops it and predicts again from the new spec."""
    if not task.has_state(_AHEAD):
        return False
    node = task.parent
    while node is not None:
        if node.has_state(_RESET):
            return True
        node = node.parent
    return False


def _removed_reasons(diff, where: str, to_version: int) -> list[str]:
    reasons = []
    for task in diff.removed:
        if _ahead(task):
            continue
        doing = ("waits at" if task.has_state(_ACTIVE) else "is due to reach" if task.has_state(_AHEAD)
                 else "went through")
        reasons.append(f"{where}{doing} {_describe(task)}, which v{to_version} no longer has")
    return reasons


def assess(workflow, new_spec, new_subprocess_specs: dict, registry, to_version: int):
    """(reasons it cannot move, the diffs to migrate it with); no reasons means safe."""
    try:
        top, sub_diffs = diff_workflow(registry, workflow, new_spec, new_subprocess_specs)
    except Exception as exc:  # SpiffWorkflow cannot align this tree (e.g. a spec it cannot reach)
        return [f"SpiffWorkflow cannot compare it with v{to_version}: {type(exc).__name__}: {exc}"], None
    reasons = _removed_reasons(top, "it ", to_version)
    for sp_id, sub_diff in sub_diffs.items():
        sub = workflow.subprocesses[sp_id]
        if sub_diff is None:
            reasons.append(f"its subprocess {sub.spec.name!r} is not in v{to_version}")
        else:
            reasons += _removed_reasons(sub_diff, f"its subprocess {sub.spec.name!r} ", to_version)
    changed = _changed_ids(top, sub_diffs)
    for task in workflow.get_tasks(state=_ACTIVE):
        parent = task.parent
        if parent is not None and isinstance(parent.task_spec, LoopTask) and {task.id, parent.id} & changed:
            reasons.append(f"it is inside the multi-instance activity {_describe(parent)}, which v{to_version} "
                           "changes: a migration would reset its items")
            break
    return reasons, (top, sub_diffs)


def _changed_ids(top, sub_diffs) -> set:
    return {t.id for t in top.changed} | {t.id for d in sub_diffs.values() if d for t in d.changed}


def _apply(workflow, diffs, new_spec, new_subprocess_specs: dict) -> None:
    """Migrate the tree; tasks whose spec did not change keep their data and timers."""
    top, sub_diffs = diffs
    keep = {}
    changed = _changed_ids(top, sub_diffs)
    for task in workflow.get_tasks(state=_RESET):
        if task.id not in changed:
            keep[task.id] = (task.state, deepcopy(task.data), deepcopy(task.internal_data))
    for sp_id, sub_diff in sub_diffs.items():
        sub = workflow.subprocesses[sp_id]
        migrate_workflow(sub_diff, sub, new_subprocess_specs[sub.spec.name])
    migrate_workflow(top, workflow, new_spec)
    workflow.subprocess_specs = new_subprocess_specs
    for task_id, (state, data, internal) in keep.items():
        task = workflow.tasks.get(task_id)
        if task is not None and task.state == state:
            task.data, task.internal_data = data, internal


def _definitions(s: Session, target_id: int, from_version: int | None) -> tuple[ProcessDefinition, ProcessDefinition]:
    target = s.get(ProcessDefinition, target_id)
    if target is None:
        raise NotFound(f"process definition {target_id} does not exist")
    version = from_version if from_version is not None else target.version - 1
    if version >= target.version or version < 1:
        raise NotFound(f"process {target.key!r} has no version {version} before v{target.version} to move from")
    source = s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == target.key,
                                                       ProcessDefinition.version == version)).first()
    if source is None:
        raise NotFound(f"process {target.key!r} has no version {version}")
    return source, target


def migrate(services, target_definition_id: int, user_id: int | None, dry_run: bool = True,
            from_version: int | None = None) -> MigrationReport:
    """Report (dry run) or move the running instances of version `from_version` (default: the one before) onto
    definition `target_definition_id`; administrators only (no user: the operator at the command line)."""
    runtime = services.runtime
    with services.uow() as uow:
        s = uow.session
        if user_id is not None and not is_admin(accounts.get_user(s, user_id)):
            raise NotAllowed("only an administrator may migrate process instances")
        source, target = _definitions(s, target_definition_id, from_version)
        report = MigrationReport(target.key, source.version, target.version, target.id, dry_run)
        ids = list(s.scalars(select(ProcessInstance.id).where(
            ProcessInstance.definition_id == source.id, ProcessInstance.status == InstanceState.RUNNING)
            .order_by(ProcessInstance.id)))
        source_id, target_id = source.id, target.id
    for instance_id in ids:
        with services.uow() as uow:
            s = uow.session
            instance = lock_instance(s, instance_id) if not dry_run else s.get(ProcessInstance, instance_id)
            move = InstanceMove(instance.id, instance.business_key, safe=False)
            report.instances.append(move)
            if instance.status != InstanceState.RUNNING or instance.definition_id != source_id:
                move.reasons.append(f"it is no longer running on v{report.from_version}")
                continue
            target = s.get(ProcessDefinition, target_id)
            workflow = runtime.load(instance.definition, instance.state_json)
            new_spec, new_subs = runtime.specs_for(target)
            move.reasons, diffs = assess(workflow, new_spec, new_subs, runtime.serializer.registry, target.version)
            move.safe = not move.reasons
            if dry_run or not move.safe:
                continue
            with runtime.engine_time():  # timers re-registered by the reset read the engine's clock
                _apply(workflow, diffs, new_spec, new_subs)
            try:
                workflow = runtime.load(target, runtime.dump(workflow))  # the new state restores, or nothing moves
            except Exception as exc:
                move.safe, move.reasons = False, [f"its migrated state does not restore: {type(exc).__name__}: {exc}"]
                continue
            _move_instance(services, s, instance, target, workflow, user_id, report)
            uow.commit()
            move.moved = True
    return report


def _move_instance(services, s: Session, instance: ProcessInstance, target: ProcessDefinition, workflow,
                   user_id: int | None, report: MigrationReport) -> None:
    now = services.clock.now()
    instance.definition_id, instance.definition = target.id, target
    ready = {str(t.id): t for t in services.runtime.ready_user_tasks(workflow)}
    for row in s.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                 HumanTask.state == RowState.READY)):
        task = ready.get(row.spiff_task_id)
        if task is None:
            continue  # persist() cancels it
        meta = target.task_meta.get(task.task_spec.bpmn_id) or {}
        row.bpmn_id = task.task_spec.bpmn_id
        row.form = meta.get("form", row.form)
        row.stage = meta.get("stage", row.stage)
    record_event(s, now, "InstanceMigrated", user_id, instance_id=instance.id, key=target.key,
                 from_version=report.from_version, to_version=report.to_version)
    services.projector(s, now, user_id).persist(instance, workflow)
