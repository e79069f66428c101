"""Coverage ("无遗漏、全覆盖") per unit and per campaign, and 应发现未发现 accountability (seed 002's level rule)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import (
    LEVELS,
    Campaign,
    CampaignUnit,
    ChecklistItem,
    ItemResult,
    MissedHazard,
)
from engine.org.models import OrgNode, User
from engine.rectification.models import Hazard


@dataclass(frozen=True)
class UnitCoverage:
    """How far one unit got through its checklist."""

    campaign_unit_id: int
    org_id: int
    name: str
    required: int
    answered: int
    checked: int
    not_applicable: int
    hazards: int
    status: str
    signed_at: datetime | None

    @property
    def percent(self) -> float:
        return round(100.0 * self.answered / self.required, 1) if self.required else 100.0


def unit_coverage(s: Session, campaign_id: int) -> list[UnitCoverage]:
    """Coverage of every unit of a campaign: one query for the units, one grouped query for the answers."""
    campaign = s.get(Campaign, campaign_id)
    units = list(s.execute(select(CampaignUnit, OrgNode).join(OrgNode, OrgNode.id == CampaignUnit.org_id)
                           .where(CampaignUnit.campaign_id == campaign_id).order_by(CampaignUnit.id)))
    counts: dict[tuple[int, str], int] = {}
    for cu_id, result, n in s.execute(
            select(ItemResult.campaign_unit_id, ItemResult.result, func.count(func.distinct(ItemResult.item_id)))
            .join(CampaignUnit, CampaignUnit.id == ItemResult.campaign_unit_id)
            .where(CampaignUnit.campaign_id == campaign_id)
            .group_by(ItemResult.campaign_unit_id, ItemResult.result)):
        counts[(cu_id, result)] = n
    answered = dict(s.execute(
        select(ItemResult.campaign_unit_id, func.count(func.distinct(ItemResult.item_id)))
        .join(CampaignUnit, CampaignUnit.id == ItemResult.campaign_unit_id)
        .where(CampaignUnit.campaign_id == campaign_id).group_by(ItemResult.campaign_unit_id)).all())
    out = []
    for cu, org in units:
        out.append(UnitCoverage(cu.id, org.id, org.name, len(items_for_unit(campaign.template, org)),
                                answered.get(cu.id, 0), counts.get((cu.id, "checked"), 0),
                                counts.get((cu.id, "na"), 0), counts.get((cu.id, "hazard"), 0), cu.status,
                                cu.signed_at))
    return out


def uncovered_items(s: Session, campaign_id: int) -> list[ChecklistItem]:
    """全覆盖: the checklist items that reach none of the campaign's units (no 责任部门 or 牵头部门 names one of them),
    so nobody would check them. Two queries (the campaign with its template, its units)."""
    campaign = s.get(Campaign, campaign_id)
    orgs = list(s.scalars(select(OrgNode).join(CampaignUnit, CampaignUnit.org_id == OrgNode.id)
                          .where(CampaignUnit.campaign_id == campaign_id)))
    reached: set[int] = set()
    for org in orgs:
        reached.update(i.id for i in items_for_unit(campaign.template, org))
    return [i for i in campaign.template.items if i.id not in reached]


def campaign_coverage(s: Session, campaign_id: int) -> dict:
    """The campaign's figures: items required and answered, units signed and returned, open hazards."""
    units = unit_coverage(s, campaign_id)
    required = sum(u.required for u in units)
    answered = sum(u.answered for u in units)
    open_hazards = s.scalar(select(func.count()).select_from(Hazard).where(
        Hazard.campaign_id == campaign_id, Hazard.closed_at.is_(None))) or 0
    all_hazards = s.scalar(select(func.count()).select_from(Hazard).where(Hazard.campaign_id == campaign_id)) or 0
    return {
        "units": len(units), "units_complete": sum(1 for u in units if u.answered >= u.required),
        "units_signed": sum(1 for u in units if u.signed_at is not None),
        "units_returned": sum(1 for u in units if u.status == "returned"),
        "items_required": required, "items_answered": answered,
        "percent": round(100.0 * answered / required, 1) if required else 100.0,
        "hazards": all_hazards, "open_hazards": open_hazards,
        "missed": s.scalar(select(func.count()).select_from(MissedHazard)
                           .where(MissedHazard.found_by_campaign_id == campaign_id)) or 0,
    }


def item_record(s: Session, campaign_unit_id: int) -> list[tuple[ChecklistItem, ItemResult | None, str | None]]:
    """Per item of one unit: its answer (or None), and who answered it."""
    cu = s.get(CampaignUnit, campaign_unit_id)
    results = {r.item_id: r for r in s.scalars(select(ItemResult).where(ItemResult.campaign_unit_id == cu.id))}
    names = dict(s.execute(select(User.id, User.display_name).where(
        User.id.in_({r.by_id for r in results.values()}))).all()) if results else {}
    return [(item, results.get(item.id), names.get(results[item.id].by_id) if item.id in results else None)
            for item in items_for_unit(cu.campaign.template, cu.org)]


def record_missed(s: Session, hazard: Hazard, finder: Campaign, now: datetime) -> list[MissedHazard]:
    """Record 应发现未发现 for a hazard found by `finder` against every lower (or earlier) signed "no problem" answer.

    Seed 002: missed by the school's self-check and found by the county → the school; missed by the county and
    found by the city → county and school; found by the province → city, county and school. An inspection at the
    same level that comes later than a self-check (joint inspection, supervision, look-back) holds that
    self-check to account too. A match is the same checklist item (by its 督查内容) at the same unit or an
    organisation above it, at the same location or on the unit as a whole.
    """
    if not hazard.check_item or hazard.source == "self_check":
        return []
    unit = s.get(OrgNode, hazard.unit_id)
    finder_rank = LEVELS.index(finder.level)
    rows = s.execute(
        select(ItemResult, CampaignUnit, Campaign)
        .join(CampaignUnit, CampaignUnit.id == ItemResult.campaign_unit_id)
        .join(Campaign, Campaign.id == CampaignUnit.campaign_id)
        .join(ChecklistItem, ChecklistItem.id == ItemResult.item_id)
        .where(ItemResult.result == "checked", CampaignUnit.signed_at.is_not(None),
               CampaignUnit.org_id.in_(unit.ancestor_ids()), ChecklistItem.content == hazard.check_item,
               ItemResult.location.in_(["", hazard.location]))
    ).all()
    recorded = []
    for result, cu, campaign in rows:
        rank = LEVELS.index(campaign.level)
        if rank > finder_rank or (rank == finder_rank and cu.signed_at > now):
            continue
        if s.scalar(select(MissedHazard.id).where(MissedHazard.hazard_id == hazard.id,
                                                  MissedHazard.item_result_id == result.id)):
            continue
        row = MissedHazard(hazard_id=hazard.id, item_result_id=result.id, campaign_id=campaign.id, org_id=cu.org_id,
                           level=campaign.level, person_id=result.by_id, signer_id=cu.signed_by_id,
                           found_level=finder.level, found_by_campaign_id=finder.id, recorded_at=now)
        s.add(row)
        recorded.append(row)
    s.flush()
    return recorded


def missed_for_unit(s: Session, org_id: int) -> list[MissedHazard]:
    """A unit's 应发现未发现 record, newest first."""
    return list(s.scalars(select(MissedHazard).where(MissedHazard.org_id == org_id)
                          .order_by(MissedHazard.recorded_at.desc(), MissedHazard.id.desc())))


def missed_by_level(s: Session, finder_campaign_id: int) -> dict[str, int]:
    """For a campaign summary: how many 应发现未发现 records its findings produced, per missing level."""
    return dict(s.execute(select(MissedHazard.level, func.count()).where(
        MissedHazard.found_by_campaign_id == finder_campaign_id).group_by(MissedHazard.level)).all())
