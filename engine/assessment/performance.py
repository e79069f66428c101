"""Per-unit inspection performance (排查隐患不到位): scheduled, done on time, late, missed and still open patrols
(recurring inspections, engine/schedules) and self-checks (campaign units) of each unit of a school in a period.

A patrol counts once per task a unit was given (a patrol occurrence has one task per target unit); a self-check
once per campaign the unit was in whose self-check stage ended in the period. Done: finished by its due time (a
patrol task's due_at, the self-check stage's last day at 18:00 China time); late: finished after it; missed: not
finished and past due; open: not yet due. Two queries for the whole school (one grouped, one over campaign units),
whatever the number of units; `records` lists the rows behind one unit's figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from engine.campaigns.models import Campaign, CampaignUnit
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode
from engine.process.lifecycle import TaskState
from engine.process.models import HumanTask
from engine.reports.statistics import report_moment
from engine.rectification.ledger import day_start
from engine.schedules.models import InspectionOccurrence, InspectionSchedule

KINDS = ("patrol", "self_check")
FIGURES = ("scheduled", "done", "late", "missed", "open")


@dataclass
class Counts:
    """The five figures of one kind of inspection."""

    scheduled: int = 0
    done: int = 0
    late: int = 0
    missed: int = 0
    open: int = 0

    def add(self, state: str) -> None:
        self.scheduled += 1
        setattr(self, state, getattr(self, state) + 1)

    @property
    def on_time_rate(self) -> float | None:
        """Done on time over what was due (open ones are not due yet), or None when nothing was due."""
        due = self.scheduled - self.open
        return round(self.done / due, 4) if due else None

    def as_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in FIGURES}, "on_time_rate": self.on_time_rate}


@dataclass
class UnitPerformance:
    """One unit's figures for patrols and self-checks."""

    org_id: int
    name: str
    patrol: Counts = field(default_factory=Counts)
    self_check: Counts = field(default_factory=Counts)

    def as_dict(self) -> dict:
        return {"org_id": self.org_id, "name": self.name, "patrol": self.patrol.as_dict(),
                "self_check": self.self_check.as_dict()}


def units_of(s: Session, school: OrgNode) -> list[OrgNode]:
    """The active units (处室, 二级学院, 附属单位) of a school, in tree order."""
    return list(s.scalars(select(OrgNode).where(OrgNode.path.startswith(school.path), OrgNode.kind == "unit",
                                                OrgNode.active.is_(True)).order_by(OrgNode.path)))


def unit_of_node(s: Session, school: OrgNode) -> dict[int, int]:
    """Every unit or grid node under the school → the unit it belongs to (a grid's patrol counts for its unit)."""
    nodes = list(s.execute(select(OrgNode.id, OrgNode.kind, OrgNode.path).where(
        OrgNode.path.startswith(school.path), OrgNode.kind.in_(("unit", "grid")))))
    units = {path: node_id for node_id, kind, path in nodes if kind == "unit"}
    mapping = {}
    for node_id, _, path in nodes:
        best = max((p for p in units if path.startswith(p)), key=len, default=None)
        if best is not None:
            mapping[node_id] = units[best]
    return mapping


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return day_start(start), day_start(end) + timedelta(days=1)


def _patrol_state(state: str, completed_at, due_at, as_of: datetime) -> str:
    if state == TaskState.COMPLETED:
        return "late" if due_at is not None and completed_at is not None and completed_at > due_at else "done"
    return "missed" if due_at is not None and due_at < as_of else "open"


def _patrol_tasks(school_id: int, start: date, end: date):
    low, high = _bounds(start, end)
    return (select(HumanTask.id, HumanTask.name, HumanTask.candidate_org_id, HumanTask.state, HumanTask.due_at,
                   HumanTask.completed_at, InspectionOccurrence.schedule_id, InspectionOccurrence.period_key)
            .join(InspectionOccurrence, InspectionOccurrence.instance_id == HumanTask.instance_id)
            .join(InspectionSchedule, InspectionSchedule.id == InspectionOccurrence.schedule_id)
            .where(InspectionSchedule.org_id == school_id, InspectionSchedule.kind == "patrol",
                   InspectionOccurrence.period_start >= low, InspectionOccurrence.period_start < high,
                   HumanTask.state != TaskState.CANCELLED))


def self_check_deadline(campaign: Campaign) -> datetime | None:
    """When a campaign's self-check is due: 18:00 China time on its stage's last day."""
    end = ((campaign.stages or {}).get("self_check") or {}).get("end")
    return report_moment(date.fromisoformat(str(end)[:10])) if end else None


def _self_check_state(cu: CampaignUnit, deadline: datetime, as_of: datetime) -> str:
    if cu.signed_at is not None:
        return "late" if cu.signed_at > deadline else "done"
    return "missed" if deadline < as_of else "open"


def _campaign_units(s: Session, unit_ids: list[int], start: date, end: date):
    """(campaign unit, campaign, deadline) of the units' campaigns whose self-check ended in the period."""
    if not unit_ids:
        return []
    low, high = _bounds(start, end)
    rows = s.execute(select(CampaignUnit, Campaign).join(Campaign, Campaign.id == CampaignUnit.campaign_id)
                     .where(CampaignUnit.org_id.in_(unit_ids), Campaign.kind == "campaign",
                            Campaign.created_at < high).order_by(Campaign.id))
    out = []
    for cu, campaign in rows:
        deadline = self_check_deadline(campaign)
        if deadline is not None and low <= deadline < high:
            out.append((cu, campaign, deadline))
    return out


def unit_performance(s: Session, school: OrgNode, start: date, end: date, as_of: datetime) -> list[UnitPerformance]:
    """Every unit's patrol and self-check figures for the period (China dates, inclusive) as of a moment."""
    units = units_of(s, school)
    rows = {u.id: UnitPerformance(u.id, u.name) for u in units}
    owner = unit_of_node(s, school)
    tasks = _patrol_tasks(school.id, start, end).subquery()
    done = and_(tasks.c.state == TaskState.COMPLETED,
                or_(tasks.c.due_at.is_(None), tasks.c.completed_at <= tasks.c.due_at))
    late = and_(tasks.c.state == TaskState.COMPLETED, tasks.c.completed_at > tasks.c.due_at)
    missed = and_(tasks.c.state != TaskState.COMPLETED, tasks.c.due_at < as_of)

    def tally(cond):
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    for org_id, total, n_done, n_late, n_missed in s.execute(
            select(tasks.c.candidate_org_id, func.count(), tally(done), tally(late), tally(missed))
            .group_by(tasks.c.candidate_org_id)):
        row = rows.get(owner.get(org_id))
        if row is None:
            continue  # the security office's own patrols of the school, or a unit since deactivated
        c = row.patrol
        c.scheduled += int(total)
        c.done += int(n_done)
        c.late += int(n_late)
        c.missed += int(n_missed)
        c.open += int(total) - int(n_done) - int(n_late) - int(n_missed)
    for cu, _, deadline in _campaign_units(s, list(rows), start, end):
        rows[cu.org_id].self_check.add(_self_check_state(cu, deadline, as_of))
    return list(rows.values())


def _label_day(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA).date().isoformat() if moment is not None else None


def records(s: Session, school: OrgNode, unit_ids: list[int], start: date, end: date,
            as_of: datetime) -> dict[int, dict[str, list[dict]]]:
    """The rows behind the figures of these units: {unit: {"patrol": [...], "self_check": [...]}}, each row with its
    state (done, late, missed, open); two queries."""
    owner = unit_of_node(s, school)
    wanted = set(unit_ids)
    out: dict[int, dict[str, list[dict]]] = {u: {"patrol": [], "self_check": []} for u in unit_ids}
    nodes = [n for n, u in owner.items() if u in wanted]
    if nodes:
        for row in s.execute(_patrol_tasks(school.id, start, end).where(HumanTask.candidate_org_id.in_(nodes))
                             .order_by(HumanTask.due_at, HumanTask.id)):
            out[owner[row.candidate_org_id]]["patrol"].append({
                "type": "patrol_task", "id": row.id, "label": row.name, "schedule_id": row.schedule_id,
                "period": row.period_key, "on": _label_day(row.due_at), "done_on": _label_day(row.completed_at),
                "state": _patrol_state(row.state, row.completed_at, row.due_at, as_of)})
    for cu, campaign, deadline in _campaign_units(s, list(wanted), start, end):
        out[cu.org_id]["self_check"].append({
            "type": "campaign_unit", "id": cu.id, "campaign_id": campaign.id, "org_id": cu.org_id,
            "label": campaign.title, "on": _label_day(deadline), "done_on": _label_day(cu.signed_at),
            "state": _self_check_state(cu, deadline, as_of)})
    return out
