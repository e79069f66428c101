"""Deadline policy: a task's working-day due time, and its schedule of reminder, overdue and escalation steps.

The policy is read from the diagram: `spiffworkflow:property` elements on the process (defaults for every task)
and on each user task (overrides). Properties:

- `dueWorkingDays`: due at 18:00 China time on the n-th working day after the task opens
- `remindBeforeWorkingDays`: remind the assignee this many working days before the due time (0: no reminder)
- `escalateEveryWorkingDays`: working days between one escalation level and the next
- `escalationLadder`: comma-separated rungs, lowest first (unit_head, security_office, leader, supervisor)
- `escalation`: "off" disables reminders and escalation for the task
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidDiagram
from engine.process.calendar import CalendarBook, WorkCalendar
from engine.process.models import HumanTask, ProcessDefinition

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
RUNGS = ("unit_head", "security_office", "leader", "supervisor")
DEFAULT_LADDER = RUNGS
POLICY_PROPERTIES = ("remindBeforeWorkingDays", "escalateEveryWorkingDays", "escalationLadder", "escalation")

_process_props_cache: dict[tuple[str, str], dict] = {}  # by (process key, diagram sha256)


@dataclass(frozen=True)
class EscalationPolicy:
    """When to remind before the due time and how fast to climb the ladder after it."""

    remind_before: int = 1
    escalate_every: int = 2
    ladder: tuple[str, ...] = DEFAULT_LADDER
    enabled: bool = True

    @classmethod
    def from_properties(cls, props: dict, where: str = "diagram") -> "EscalationPolicy":
        """Build a policy from extension properties, with the defaults for what is missing."""
        try:
            remind = int(props.get("remindBeforeWorkingDays", cls.remind_before))
            every = int(props.get("escalateEveryWorkingDays", cls.escalate_every))
        except ValueError:
            raise InvalidDiagram(f"{where}: escalation intervals must be whole numbers of working days") from None
        ladder = tuple(r.strip() for r in props.get("escalationLadder", ",".join(DEFAULT_LADDER)).split(",")
                       if r.strip())
        unknown = [r for r in ladder if r not in RUNGS]
        if unknown or remind < 0 or every < 1 or not ladder:
            raise InvalidDiagram(f"{where}: invalid escalation policy (rungs must be among {RUNGS}, "
                                 f"remindBeforeWorkingDays >= 0, escalateEveryWorkingDays >= 1)")
        return cls(remind, every, ladder, props.get("escalation", "on") != "off")


@dataclass(frozen=True)
class Step:
    """One scheduled action: remind, overdue (first rung), or escalate (a higher rung)."""

    action: str
    at: datetime
    rung: str | None
    level: int


def process_properties(definition: ProcessDefinition) -> dict:
    """The process element's own extension properties (definitions never change, so parse once per id)."""
    cached = _process_props_cache.get((definition.key, definition.sha256))
    if cached is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(definition.source_xml.encode("utf-8"), parser=parser)
        nodes = root.xpath(
            "//bpmn:process[@id=$pid]/bpmn:extensionElements/spiff:properties/spiff:property",
            namespaces={"bpmn": BPMN_NS, "spiff": SPIFF_NS}, pid=definition.key)
        cached = {n.get("name"): n.get("value") for n in nodes}
        _process_props_cache[(definition.key, definition.sha256)] = cached
    return cached


def task_properties(definition: ProcessDefinition, bpmn_id: str) -> dict:
    """Process-level properties overridden by the task's own."""
    task_props = (definition.task_meta.get(bpmn_id) or {}).get("properties") or {}
    return {**process_properties(definition), **task_props}


def policy_for(definition: ProcessDefinition, bpmn_id: str) -> EscalationPolicy:
    """The escalation policy of one user task of one deployed definition."""
    return EscalationPolicy.from_properties(task_properties(definition, bpmn_id), f"{definition.key}/{bpmn_id}")


def schedule(due_at: datetime, policy: EscalationPolicy, calendar: WorkCalendar) -> list[Step]:
    """Every step of a task's deadline policy, in time order."""
    if not policy.enabled:
        return []
    steps = []
    if policy.remind_before:
        steps.append(Step("remind", calendar.shift(due_at, -policy.remind_before), None, 0))
    steps.append(Step("overdue", due_at, policy.ladder[0], 1))
    for level, rung in enumerate(policy.ladder[1:], start=2):
        steps.append(Step("escalate", calendar.shift(due_at, (level - 1) * policy.escalate_every), rung, level))
    return steps


def calendar_book(session: Session) -> CalendarBook:
    """The unit of work's calendar book (organisation overrides read once per transaction)."""
    book = session.info.get("calendar_book")
    if book is None:
        book = session.info["calendar_book"] = CalendarBook(session)
    return book


def first_pending_step(steps: list[Step], opened_at: datetime) -> int:
    """Skip a reminder that would fall before the task even opened."""
    if steps and steps[0].action == "remind" and steps[0].at <= opened_at:
        return 1
    return 0


def plan_task(session: Session, definition: ProcessDefinition, task: HumanTask, has_due_expression: bool,
              now: datetime) -> None:
    """Give a new task its working-day due time (if the diagram asks for one) and its first policy step."""
    props = task_properties(definition, task.bpmn_id)
    calendar = calendar_book(session).for_org(task.candidate_org_id)
    working_days = props.get("dueWorkingDays")
    if working_days and (task.due_at is None or not has_due_expression):
        task.due_at = calendar.due_after(now, int(working_days))
    reset_schedule(task, policy_for(definition, task.bpmn_id), calendar, now)


def reset_schedule(task: HumanTask, policy: EscalationPolicy, calendar: WorkCalendar, now: datetime) -> None:
    """Start the task's deadline schedule afresh from its (new) due time."""
    task.escalation_step = 0
    task.next_escalation_at = None
    if task.due_at is None:
        return
    steps = schedule(task.due_at, policy, calendar)
    task.escalation_step = first_pending_step(steps, now)
    if task.escalation_step < len(steps):
        task.next_escalation_at = steps[task.escalation_step].at
