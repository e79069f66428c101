"""Who does a user task and what the engine reads from it: the meta of every user task of a process.

A minimal version that keeps the shipped diagrams' rules (a lane names a role, or the deploy-time role map maps
it to one) and walks the user tasks of subprocesses and call-activity callees too; the assignment piece
(Camunda/SpiffArena attributes) replaces it.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.specs.defaults import UserTask

from engine.infra.errors import ScriptNotAllowed
from engine.org.models import ROLES
from engine.process.findings import Finding
from engine.process.scripting import compile_checked

# User-task properties holding expressions, compiled (restricted) at deploy: candidateOrg (org whose role holders
# are candidates), dueExpression (due date/datetime), issueNotice (true: completing the task issues the hazard's
# numbered 整改通知书, see notices.py), nameExpression (the inbox title, e.g. a patrol's sites; schedules.py).
EXPRESSION_PROPERTIES = ("candidateOrg", "dueExpression", "issueNotice", "nameExpression")
STAGES = ("discover", "register", "report", "rectify", "accept", "close", "archive",
          # campaign stages (issue 5)
          "self_check", "joint_inspection", "rectification", "supervision", "summary")


def user_task_meta(spec, subprocess_specs: dict, filename: str, role_map: dict[str, str] | None = None,
                   documents: dict | None = None) -> tuple[dict[str, dict], list[Finding]]:
    """The meta of every user task in `spec` and its subprocess specs (keyed by task id), and what is wrong.

    `documents` (bundle file name -> parsed BPMN root) lets attributes SpiffWorkflow does not keep be read."""
    meta: dict[str, dict] = {}
    findings: list[Finding] = []
    for process_spec in [spec, *subprocess_specs.values()]:
        if process_spec is None:
            continue
        for task_spec in process_spec.task_specs.values():
            if isinstance(task_spec, UserTask) and task_spec.bpmn_id not in meta:
                meta[task_spec.bpmn_id] = _task_meta(task_spec, filename, role_map or {}, findings)
    return meta, findings


def _task_meta(task_spec, filename: str, role_map: dict[str, str], findings: list[Finding]) -> dict:
    props = dict((getattr(task_spec, "extensions", None) or {}).get("properties", {}))
    where = {"file": filename, "element_id": task_spec.bpmn_id, "element_name": task_spec.bpmn_name}
    lane = task_spec.lane
    if lane is not None and lane not in ROLES:
        mapped = role_map.get(lane) or role_map.get("*")
        if mapped in ROLES:
            lane = mapped
        else:
            findings.append(Finding(
                "lane-not-a-role", f"lane {lane!r} of task {task_spec.bpmn_id!r} is not a role", **where,
                fix=f"name the lane with one of {', '.join(ROLES)}, or map it with role_map"))
    for key in EXPRESSION_PROPERTIES:
        if props.get(key):
            try:
                compile_checked(props[key], "eval")
            except ScriptNotAllowed as exc:
                findings.append(Finding("bad-expression", f"task {task_spec.bpmn_id!r} property {key}: {exc.message}",
                                        **where, fix="write it as a Python expression over the task data"))
    if props.get("dueDuration"):
        try:
            TimerEventDefinition.parse_iso_duration(props["dueDuration"])
        except Exception:
            findings.append(Finding("bad-duration", f"task {task_spec.bpmn_id!r} dueDuration {props['dueDuration']!r} "
                                    "is not an ISO-8601 duration", **where, fix="write it like P3D or PT4H"))
    stage = props.get("stage")
    if stage is not None and stage not in STAGES:
        findings.append(Finding("bad-stage", f"task {task_spec.bpmn_id!r} stage {stage!r} is not one of {STAGES}",
                                **where))
    try:
        priority = int(props.get("priority", 50))
    except ValueError:
        priority = 50
        findings.append(Finding("bad-priority", f"task {task_spec.bpmn_id!r} priority must be an integer", **where))
    return {
        "bpmn_id": task_spec.bpmn_id,
        "name": task_spec.bpmn_name or task_spec.bpmn_id,
        "lane": lane,
        "stage": stage,
        "form": props.get("formJsonSchemaFilename"),
        "due_duration": props.get("dueDuration"),
        "due_expression": props.get("dueExpression"),
        "priority": priority,
        "candidate_org": props.get("candidateOrg"),
        "exclude_performers_of": [s.strip() for s in props.get("excludePerformersOf", "").split(",") if s.strip()],
        "properties": props,
    }
