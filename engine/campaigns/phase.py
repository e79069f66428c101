"""Where a campaign stands (its phase), read from its process: the one rule the pages and the API share.

bpmn/campaign.bpmn runs 自查自纠 → 联检联查 → 整改完善 → 督导检查 → 审定总结 and never goes back; its gateways skip the
stages a campaign was started without (process data `stage_list`), and a phase is only ever one of its stages.
Its user tasks name the stage they belong to (the `stage` property), and its timers open the dated stages. So the
phase is the furthest stage the process has reached, never a guess from the calendar: a stage's window may open
before the previous one closes (the joint inspection may start while the self-check window still runs), and a stage
whose start date has passed has not begun until its timer fired. A stage, once reached, stays reached: a 催报 task left open from the
self-check does not pull a campaign under joint inspection back.

Three stretches have no open task to tell them, and are read from what the process has done:
- before 自查阶段开始 fires, no unit has been sent its self-check: not_started;
- 整改清零 (rectification_wait) waits on a message and a timer, with no task of its own: it begins when the
  task closing the stage before it is completed (联检联查, or 汇总审核自查情况 in a campaign without joint inspection);
- between stages (self-checks reviewed, the next stage's start date not yet come) the campaign stays in the
  stage it last reached.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns.models import Campaign
from engine.campaigns.service import STAGE_KEYS, campaign_stage_keys
from engine.process.lifecycle import TaskState
from engine.process.models import HumanTask, ProcessMessage

PHASES = ("not_started", *STAGE_KEYS, "summary", "closed")
# The campaign diagram's task that closes each stage: its completion enters the next chosen stage when that one has
# no task of its own (rectification).
STAGE_CLOSING_TASKS = {"self_check": "review_returns", "joint_inspection": "joint_inspection"}
TASKLESS_STAGES = ("rectification",)
# What 下发自查任务 sends each unit: once sent, the self-check has begun.
SELF_CHECK_SENT = "unit_self_check_start"


@dataclass
class ProcessTrace:
    """What a campaign instance has done so far, as its projected rows tell it."""

    open_tasks: list[HumanTask] = field(default_factory=list)
    stages: set[str] = field(default_factory=set)  # of its open and completed tasks
    done: set[str] = field(default_factory=set)  # BPMN ids of its completed tasks
    self_checks_sent: bool = False


def campaign_phase(status: str, trace: ProcessTrace, stages=STAGE_KEYS) -> str:
    """The campaign's phase: closed once it ended, else the furthest of its `stages` its process has reached."""
    if status == "closed":
        return "closed"
    stages = list(stages)
    reached = {stage for stage in trace.stages if stage in PHASES}
    for n, stage in enumerate(stages):
        before = stages[n - 1] if n else None
        if stage in TASKLESS_STAGES and STAGE_CLOSING_TASKS.get(before) in trace.done:
            reached.add(stage)
    if reached:
        return max(reached, key=PHASES.index)
    return "self_check" if trace.self_checks_sent else "not_started"


def process_traces(s: Session, campaigns: list[Campaign]) -> dict[int, ProcessTrace]:
    """Each campaign's trace by campaign id, in two queries whatever the number of campaigns."""
    by_instance = {c.instance_id: ProcessTrace() for c in campaigns if c.instance_id is not None}
    if by_instance:
        for task in s.scalars(select(HumanTask).where(
                HumanTask.instance_id.in_(by_instance),
                HumanTask.state.in_((TaskState.READY, TaskState.COMPLETED))).order_by(HumanTask.id)):
            trace = by_instance[task.instance_id]
            trace.stages.add(task.stage or "")
            if task.state == TaskState.READY:
                trace.open_tasks.append(task)
            else:
                trace.done.add(task.bpmn_id)
        for instance_id in s.scalars(select(ProcessMessage.sender_instance_id).distinct().where(
                ProcessMessage.sender_instance_id.in_(by_instance), ProcessMessage.name == SELF_CHECK_SENT)):
            by_instance[instance_id].self_checks_sent = True
    return {c.id: by_instance.get(c.instance_id) or ProcessTrace() for c in campaigns}


def process_phase(s: Session, campaign: Campaign) -> tuple[str, list[HumanTask], set[str]]:
    """The campaign's phase, its open tasks (oldest first) and the BPMN ids of its completed tasks."""
    trace = process_traces(s, [campaign])[campaign.id]
    return campaign_phase(campaign.status, trace, campaign_stage_keys(campaign.stages)), trace.open_tasks, trace.done
