"""安全形势分析报告 (seed 000): each unit's situation analysis report, written in its self-check and collected for the
campaign's closing summary."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from engine.campaigns.models import Campaign, CampaignUnit
from engine.infra.errors import InvalidFormData
from engine.org.models import OrgNode, User
from engine.process.models import HumanTask

REPORT_FIELD = "situation_report"


@dataclass(frozen=True)
class SituationReport:
    """One unit's report in a campaign (text None: not written yet)."""

    unit_id: int
    unit_name: str
    text: str | None
    at: datetime | None
    by_name: str | None


def store_situation_report(s: Session, cu: CampaignUnit, user, data: dict, now: datetime) -> None:
    """completionCheck `situation_report`: keep the unit head's report text on the unit's campaign row."""
    text = (data.get(REPORT_FIELD) or "").strip()
    if not text:
        raise InvalidFormData("the situation analysis report is empty",
                              [{"field": REPORT_FIELD, "message": "write the report"}])
    cu.situation_report, cu.situation_report_at, cu.situation_report_by_id = text, now, user.id


def collected_reports(s: Session, campaign_id: int) -> list[SituationReport]:
    """Every unit of the campaign with its report (or none yet), in organisation-tree order."""
    author = aliased(User)
    rows = s.execute(
        select(CampaignUnit.org_id, OrgNode.name, CampaignUnit.situation_report, CampaignUnit.situation_report_at,
               author.display_name)
        .join(OrgNode, OrgNode.id == CampaignUnit.org_id)
        .outerjoin(author, author.id == CampaignUnit.situation_report_by_id)
        .where(CampaignUnit.campaign_id == campaign_id).order_by(OrgNode.path)).all()
    return [SituationReport(*row) for row in rows]


def reports_for_task(s: Session, task: HumanTask) -> list[SituationReport]:
    """The collected reports shown beside a task of a campaign's own process (e.g. the closing summary)."""
    if task.hazard_id is not None:
        return []
    campaign_id = s.scalar(select(Campaign.id).where(Campaign.instance_id == task.instance_id))
    return collected_reports(s, campaign_id) if campaign_id is not None else []
