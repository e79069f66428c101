"""The unit self-check report (自查报告): one unit's checklist answers, the hazards they found, who signed and when.

Seed 002: "各部门于12月15日前将本部门自查情况纸质版经主要领导签字后报安全保卫处". The pages print this report on A4
and offer it as a PDF; the REST API returns it as JSON or PDF. Reading one report costs a fixed number of queries.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import CampaignUnit
from engine.campaigns.queries import unit_results
from engine.org import accounts
from engine.org.models import User
from engine.process.models import Event, HumanTask
from engine.rectification.models import Hazard


@dataclass(frozen=True)
class ReportAnswer:
    """One line of the checklist part: an item and one answer to it (result None: not answered yet)."""

    item_id: int
    category: str
    serial: int
    content: str
    result: str | None = None
    location: str = ""
    note: str | None = None
    hazard_id: int | None = None
    by: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class ReportHazard:
    """A hazard the self-check found: 编号 (its serial in the unit), 部位, 问题, grade, deadline and stage."""

    id: int
    serial: int
    location: str
    problem: str
    grade: str | None
    deadline: date | None
    status: str
    closed_at: datetime | None


@dataclass(frozen=True)
class Signature:
    """Who signed the report in the self-check process, the name they signed with, their opinion, and when."""

    user: str
    signer_name: str
    opinion: str
    at: datetime


@dataclass(frozen=True)
class SelfCheckReport:
    """Everything the printed 自查报告 shows."""

    campaign_id: int
    campaign_title: str
    school: str
    unit_id: int
    unit: str
    head: str
    status: str
    answers: list[ReportAnswer]
    hazards: list[ReportHazard]
    signature: Signature | None

    @property
    def required(self) -> int:
        """Checklist items the unit answers."""
        return len({a.item_id for a in self.answers})

    @property
    def answered(self) -> int:
        """Items with at least one answer."""
        return len({a.item_id for a in self.answers if a.result is not None})


def self_check_report(s: Session, cu: CampaignUnit) -> SelfCheckReport:
    """The report of one campaign unit (the caller has checked the viewer may open the unit)."""
    unit, campaign = cu.org, cu.campaign
    results = unit_results(s, cu.id)
    answers: list[ReportAnswer] = []
    for item in items_for_unit(campaign.template, unit):
        head = {"item_id": item.id, "category": item.category, "serial": item.serial, "content": item.content}
        rows = results.get(item.id) or [(None, None)]
        answers += [ReportAnswer(**head) if r is None else
                    ReportAnswer(**head, result=r.result, location=r.location, note=r.note, hazard_id=r.hazard_id,
                                 by=name, at=r.at) for r, name in rows]
    hazard_ids = {a.hazard_id for a in answers if a.hazard_id}
    hazards = [ReportHazard(h.id, h.unit_serial, h.location, h.problem, h.grade, h.deadline or h.plan_deadline,
                            h.status, h.closed_at)
               for h in s.scalars(select(Hazard).where(Hazard.id.in_(hazard_ids))
                                  .order_by(Hazard.unit_serial, Hazard.id))] if hazard_ids else []
    school = accounts.nearest(s, unit, "school")
    head = s.scalar(select(User.display_name).where(User.id == unit.head_user_id)) if unit.head_user_id else None
    return SelfCheckReport(campaign.id, campaign.title, school.name if school else "", unit.id, unit.name,
                           head or "", cu.status, answers, hazards, _signature(s, cu))


def _signature(s: Session, cu: CampaignUnit) -> Signature | None:
    # The signing task is whichever task of the unit's instance its signer completed at the moment of signing
    # (the diagram's completionCheck stamps both), so a redrawn diagram with a renamed task still finds it; its
    # TaskCompleted event holds the form as submitted (主要负责人签字, 意见).
    if cu.signed_at is None or cu.signed_by_id is None:
        return None
    name = s.scalar(select(User.display_name).where(User.id == cu.signed_by_id)) or ""
    data = s.scalar(select(Event.data).join(HumanTask, HumanTask.id == Event.task_id).where(
        Event.instance_id == cu.instance_id, Event.kind == "TaskCompleted",
        HumanTask.completed_by_id == cu.signed_by_id, HumanTask.completed_at == cu.signed_at)
        .order_by(Event.id.desc()).limit(1)) if cu.instance_id else None
    form = (data or {}).get("form") or {}
    return Signature(name, str(form.get("signer_name") or name), str(form.get("opinion") or ""), cu.signed_at)
