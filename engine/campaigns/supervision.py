"""督导检查 (supervision): who supervises whom in a campaign, and the 督查报告 kept per supervised unit.

The campaign diagram's `supervision_check` is one task per entry of `supervision_targets` (process data built here
when the campaign starts): the bureau supervises each school of the campaign, or, in a school's own campaign as
seed 001 has it, each 牵头部门 (the checklist items' lead units) supervises each college. Completing a task stores its
report as a `supervision_reports` row, which the year-end assessment reads per unit and period (`reports_by_unit`),
against the units each of a school's own campaigns had its 牵头部门 supervise (`supervisions_due`).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns.models import Campaign, CampaignUnit, ChecklistTemplate, SupervisionReport
from engine.infra.errors import InvalidFormData, WorkflowFailed
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.hooks import Completion

TARGETS_KEY = "supervision_targets"  # process data: [{org_id, unit_id, label}], one supervision task each
TARGET_KEY = "supervision_target"  # the diagram's multi-instance item
REPORT_CHECK = "supervision_report"  # supervision_check's completionCheck
_LIST_SEPARATORS = re.compile(r"[\n\r、，,；;]+")


def lead_names(template: ChecklistTemplate) -> list[str]:
    """The 牵头部门 the checklist names, in item order (an entry may list several: 党政办公室、安全保卫处)."""
    names: dict[str, None] = {}
    for item in template.items:
        for name in _LIST_SEPARATORS.split(item.lead_unit or ""):
            if name.strip():
                names.setdefault(name.strip(), None)
    return list(names)


def lead_offices(s: Session, school: OrgNode, template: ChecklistTemplate) -> list[OrgNode]:
    """The school's active units that the checklist names as 牵头部门."""
    names = lead_names(template)
    if not names:
        return []
    units = s.scalars(select(OrgNode).where(OrgNode.parent_id == school.id, OrgNode.kind == "unit",
                                            OrgNode.active.is_(True)).order_by(OrgNode.path))
    return [u for u in units if u.name in names or (u.short_name and u.short_name in names)]


def supervision_targets(s: Session, org: OrgNode, units: list[OrgNode], template: ChecklistTemplate,
                        supervised_by: str, bureau_id: int | None) -> tuple[list[dict], list[dict]]:
    """(targets, field errors): one {org_id, unit_id, label} per supervisor and supervised unit."""
    if supervised_by == "lead_units":
        if org.kind != "school":
            return [], [{"field": "supervised_by", "message": "lead offices supervise only a school's own campaign"}]
        leads = lead_offices(s, org, template)
        if not leads:
            return [], [{"field": "supervised_by",
                         "message": f"the checklist names no 牵头部门 among {org.name}'s units"}]
        lead_ids = {u.id for u in leads}
        colleges = [u for u in units if u.unit_type == "college" and u.id not in lead_ids]
        supervised = colleges or [u for u in units if u.id not in lead_ids]
        return [{"org_id": lead.id, "unit_id": unit.id, "label": f"{unit.name}（{lead.name}）"}
                for lead in leads for unit in supervised], []
    # The bureau supervises each school taking part (a school answering as one unit is itself the school).
    schools = accounts.nearest_ids(s, units, "school")
    school_ids = list(dict.fromkeys(u.id if u.kind == "school" else schools.get(u.id, org.id) for u in units))
    names = dict(s.execute(select(OrgNode.id, OrgNode.name).where(OrgNode.id.in_(school_ids))).all())
    return [{"org_id": bureau_id, "unit_id": sid, "label": names.get(sid, "")} for sid in school_ids], []


def participant_list(text) -> list[str]:
    """The departments that took part, from the form's free text (one a line, or separated by 、 , ；)."""
    if isinstance(text, list):
        return [str(t).strip() for t in text if str(t).strip()]
    return [p.strip() for p in _LIST_SEPARATORS.split(text or "") if p.strip()]


def store_supervision_report(completion: Completion) -> None:
    """completionCheck `supervision_report`: keep the report about this task's supervised unit as a row."""
    data, wf_data = completion.data, completion.spiff_task.data
    target = wf_data.get(TARGET_KEY)
    if not isinstance(target, dict) or "campaign_id" not in wf_data:
        raise WorkflowFailed(f"task {completion.task.bpmn_id!r}: this completionCheck needs campaign_id and "
                             f"{TARGET_KEY} in the process data")
    report = (data.get("report") or "").strip()
    if not report:
        raise InvalidFormData("the supervision report is empty", [{"field": "report", "message": "write the report"}])
    s = completion.session
    row = s.scalars(select(SupervisionReport).where(SupervisionReport.task_id == completion.task.id)).first()
    if row is None:
        row = SupervisionReport(task_id=completion.task.id)
        s.add(row)
    row.campaign_id, row.unit_id = int(wf_data["campaign_id"]), int(target["unit_id"])
    row.supervisor_org_id = int(target["org_id"])
    row.report, row.participants = report, participant_list(data.get("participants"))
    row.sampled = (data.get("sampled") or "").strip() or None
    row.by_id, row.at = completion.user.id, completion.now


def reports_by_unit(s: Session, unit_ids: list[int], since: datetime | None = None,
                    until: datetime | None = None) -> dict[int, list[SupervisionReport]]:
    """督查报告 per supervised unit written in [since, until), oldest first (one query): the year-end assessment's."""
    where = [SupervisionReport.unit_id.in_(unit_ids)]
    if since is not None:
        where.append(SupervisionReport.at >= since)
    if until is not None:
        where.append(SupervisionReport.at < until)
    out: dict[int, list[SupervisionReport]] = defaultdict(list)
    for row in s.scalars(select(SupervisionReport).where(*where).order_by(SupervisionReport.at, SupervisionReport.id)):
        out[row.unit_id].append(row)
    return dict(out)


@dataclass(frozen=True)
class SupervisionDue:
    """One supervisor's 督导检查 of one unit in a school campaign, and the 督查报告 it wrote there (None: not yet)."""

    campaign: Campaign
    campaign_unit_id: int
    supervisor: str  # the supervising office's name
    report: SupervisionReport | None


def supervisions_due(s: Session, school_id: int, unit_ids: list[int], first: date, last: date,
                     until: datetime | None = None) -> dict[int, list[SupervisionDue]]:
    """Per unit, each 督导检查 of it that the school's own campaigns gave their 牵头部门, in campaigns whose 督导检查
    stage ended between `first` and `last` (inclusive), with the report written before `until`."""
    out: dict[int, list[SupervisionDue]] = {u: [] for u in unit_ids}
    campaigns = [c for c in s.scalars(select(Campaign).where(
        Campaign.org_id == school_id, Campaign.kind == "campaign", Campaign.supervised_by == "lead_units")
        .order_by(Campaign.id))
        if first.isoformat() <= (c.stages.get("supervision") or {}).get("end", "") <= last.isoformat()]
    if not unit_ids or not campaigns:
        return out
    members: dict[int, list[CampaignUnit]] = defaultdict(list)
    for cu in s.scalars(select(CampaignUnit).where(CampaignUnit.campaign_id.in_([c.id for c in campaigns]))
                        .order_by(CampaignUnit.id)):
        members[cu.campaign_id].append(cu)
    written = {(r.campaign_id, r.unit_id, r.supervisor_org_id): r
               for rows in reports_by_unit(s, unit_ids, until=until).values() for r in reversed(rows)}
    for campaign in campaigns:
        cu_of = {cu.org_id: cu.id for cu in members[campaign.id]}
        targets, _ = supervision_targets(s, campaign.org, [cu.org for cu in members[campaign.id]], campaign.template,
                                         "lead_units", None)
        names = dict(s.execute(select(OrgNode.id, OrgNode.name).where(
            OrgNode.id.in_({t["org_id"] for t in targets}))).all()) if targets else {}
        for t in targets:
            if t["unit_id"] in out:
                out[t["unit_id"]].append(SupervisionDue(campaign, cu_of[t["unit_id"]], names.get(t["org_id"], ""),
                                                        written.get((campaign.id, t["unit_id"], t["org_id"]))))
    return out


def campaign_reports(s: Session, campaign_id: int) -> list[tuple[SupervisionReport, str, str]]:
    """A campaign's 督查报告 with the supervised unit's and the supervisor's names, in the order written."""
    supervisor = select(OrgNode.id, OrgNode.name).subquery()
    return list(s.execute(
        select(SupervisionReport, OrgNode.name, supervisor.c.name)
        .join(OrgNode, OrgNode.id == SupervisionReport.unit_id)
        .join(supervisor, supervisor.c.id == SupervisionReport.supervisor_org_id)
        .where(SupervisionReport.campaign_id == campaign_id).order_by(SupervisionReport.id)).all())
