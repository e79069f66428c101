"""The campaign pages' read model: list rows with phase and coverage, unit details, 应发现未发现 rows, page scope.

Which campaigns a user sees is engine.campaigns.queries' rule (shared with the REST API). Every list here costs a
fixed number of queries whatever the number of campaigns or units on the page.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import (
    ORGANISER_ROLES,
    Campaign,
    CampaignUnit,
    ChecklistTemplate,
    ItemResult,
)
from engine.campaigns.phase import PHASES, campaign_phase, process_traces
from engine.campaigns.queries import (
    get_visible_campaign,
    orgs_in,
    unit_business_key,
    visible_campaigns_clause,
)
from engine.campaigns.service import campaign_stage_keys, stage_windows
from engine.infra.errors import NotFound
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.org.scope import Scope, scope_of
from engine.process.lifecycle import TaskState
from engine.process.models import HumanTask, ProcessInstance
from engine.process.tasklist import Page
from engine.rectification.models import Hazard

UNIT_STATUSES = ("pending", "signed", "sent_back", "returned")


@dataclass
class CampaignRow:
    """One line of the campaign list."""

    campaign: Campaign
    org_name: str
    phase: str
    windows: list[tuple[str, date | None, date | None]]
    units: int = 0
    answered: int = 0
    required: int = 0
    hazards: int = 0
    open_hazards: int = 0
    my_units: list[int] = field(default_factory=list)

    @property
    def percent(self) -> float:
        """Share of the required checklist answers given so far."""
        return round(100.0 * self.answered / self.required, 1) if self.required else 0.0

    @property
    def phase_end(self) -> date | None:
        """The end date of the current phase, when it has one."""
        return next((end for key, _start, end in self.windows if key == self.phase), None)


def grant_paths(s: Session, user: User) -> list[tuple[str, str]]:
    """(role, org path) of every grant the user holds (one query)."""
    org_ids = {g.org_id for g in user.grants}
    paths = dict(s.execute(select(OrgNode.id, OrgNode.path).where(OrgNode.id.in_(org_ids))).all()) if org_ids else {}
    return [(g.role, paths[g.org_id]) for g in user.grants if g.org_id in paths]


def may_open_unit(grants: list[tuple[str, str]], unit_path: str) -> bool:
    """The unit's own people (a grant at the unit or one of its grids) and the organisers above it."""
    return any(path.startswith(unit_path) or (role in ORGANISER_ROLES and unit_path.startswith(path))
               for role, path in grants)


def openable_unit(s: Session, user: User, campaign_id: int, org_id: int) -> CampaignUnit:
    """The campaign's row for a unit the user may open (campaign in scope, then `may_open_unit`); NotFound otherwise."""
    campaign = get_visible_campaign(s, scope_of(s, user), campaign_id)
    cu = s.scalars(select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id,
                                              CampaignUnit.org_id == org_id)).first()
    if cu is None or not may_open_unit(grant_paths(s, user), cu.org.path):
        raise NotFound(f"unit {org_id} is not part of campaign {campaign_id}, or not yours to open")
    return cu


def organiser_orgs(s: Session, user: User) -> list[OrgNode]:
    """The org nodes where the user may start a campaign (security office, leader, supervisor, admin)."""
    ids = {g.org_id for g in user.grants if g.role in ORGANISER_ROLES}
    return list(s.scalars(select(OrgNode).where(OrgNode.id.in_(ids)).order_by(OrgNode.path))) if ids else []


def unit_choices(s: Session, org: OrgNode) -> list[OrgNode]:
    """What a campaign organised at `org` may cover: a school's units, or a bureau's schools."""
    kind = "unit" if org.kind == "school" else "school"
    return list(s.scalars(select(OrgNode).where(OrgNode.kind == kind, OrgNode.path.startswith(org.path),
                                                OrgNode.active.is_(True)).order_by(OrgNode.id)))


def windows(campaign: Campaign) -> list[tuple[str, date | None, date | None]]:
    """(stage, start, end) of the campaign's dated stages, starts defaulting as the engine defaults them."""
    keys = campaign_stage_keys(campaign.stages)
    ends, starts, _errors = stage_windows(campaign.stages or {}, campaign.created_at, keys)
    return [(key, starts.get(key), ends.get(key)) for key in keys]


def stage_states(campaign: Campaign, phase: str) -> list[tuple[str, date | None, date | None, str]]:
    """(stage, start, end, done|current|upcoming) for the dashboard's timeline (all upcoming before it starts)."""
    at = PHASES.index(phase)
    return [(key, start, end, "done" if PHASES.index(key) < at else "current" if key == phase else "upcoming")
            for key, start, end in windows(campaign)]


def list_campaigns(s: Session, user: User, page: int = 1, per_page: int = 20, status: str | None = None) -> Page:
    """One page of the campaigns the user sees, newest first, with phase, coverage and hazard counts."""
    scope = scope_of(s, user)
    where = [visible_campaigns_clause(scope)]
    if status:
        where.append(Campaign.status == status)
    total = s.scalar(select(func.count()).select_from(Campaign).where(*where)) or 0
    campaigns = list(s.scalars(select(Campaign).where(*where).order_by(Campaign.created_at.desc(), Campaign.id.desc())
                               .limit(per_page).offset((page - 1) * per_page)))
    return Page(items=campaign_rows(s, user, campaigns), total=total, page=page, per_page=per_page)


def campaign_rows(s: Session, user: User, campaigns: list[Campaign]) -> list[CampaignRow]:
    """Rows for these campaigns: eight queries in all, none per campaign or per unit."""
    if not campaigns:
        return []
    ids = [c.id for c in campaigns]
    orgs = dict(s.execute(select(OrgNode.id, OrgNode.name).where(OrgNode.id.in_({c.org_id for c in campaigns}))).all())
    traces = process_traces(s, campaigns)
    rows = {c.id: CampaignRow(c, orgs.get(c.org_id, ""),
                              campaign_phase(c.status, traces[c.id], campaign_stage_keys(c.stages)), windows(c))
            for c in campaigns}
    templates = {t.id: t for t in s.scalars(select(ChecklistTemplate).options(selectinload(ChecklistTemplate.items))
                                            .where(ChecklistTemplate.id.in_({c.template_id for c in campaigns})))}
    required: dict[tuple[int, str], int] = {}
    mine = _home_units(s, user)
    for campaign_id, org in s.execute(select(CampaignUnit.campaign_id, OrgNode)
                                      .join(OrgNode, OrgNode.id == CampaignUnit.org_id)
                                      .where(CampaignUnit.campaign_id.in_(ids))):
        row = rows[campaign_id]
        key = (row.campaign.template_id, org.name)  # items_for_unit depends on the unit's name only
        if key not in required:
            required[key] = len(items_for_unit(templates[row.campaign.template_id], org))
        row.units += 1
        row.required += required[key]
        if org.id in mine:
            row.my_units.append(org.id)
    answered = (select(CampaignUnit.campaign_id.label("cid"), ItemResult.campaign_unit_id, ItemResult.item_id)
                .join(CampaignUnit, CampaignUnit.id == ItemResult.campaign_unit_id)
                .where(CampaignUnit.campaign_id.in_(ids)).distinct().subquery())
    for campaign_id, n in s.execute(select(answered.c.cid, func.count()).group_by(answered.c.cid)):
        rows[campaign_id].answered = n
    for campaign_id, n, closed in s.execute(
            select(Hazard.campaign_id, func.count(), func.count(Hazard.closed_at))
            .where(Hazard.campaign_id.in_(ids)).group_by(Hazard.campaign_id)):
        rows[campaign_id].hazards, rows[campaign_id].open_hazards = n, n - closed
    return [rows[i] for i in ids]


def _home_units(s: Session, user: User) -> set[int]:
    """The units the user works in (a grant at the unit, or at one of its grids)."""
    org_ids = {g.org_id for g in user.grants if g.role not in ORGANISER_ROLES}
    if not org_ids:
        return set()
    return {parent if kind == "grid" else org_id for org_id, kind, parent in s.execute(
        select(OrgNode.id, OrgNode.kind, OrgNode.parent_id).where(OrgNode.id.in_(org_ids)))}


def visible_unit_ids(s: Session, campaign_id: int, scope: Scope) -> set[int]:
    """The campaign's units that lie in the user's scope."""
    if not scope.paths:
        return set()
    return set(s.scalars(select(CampaignUnit.org_id).where(CampaignUnit.campaign_id == campaign_id,
                                                           CampaignUnit.org_id.in_(orgs_in(scope)))))


def unit_details(s: Session, campaign_id: int, org_ids: list[int]) -> dict[int, dict]:
    """For the units on one dashboard page: who signed, and the open task of each unit's self-check (2 queries)."""
    details = {org_id: {"signed_by": None, "tasks": []} for org_id in org_ids}
    if not org_ids:
        return details
    for org_id, name in s.execute(select(CampaignUnit.org_id, User.display_name)
                                  .join(User, User.id == CampaignUnit.signed_by_id)
                                  .where(CampaignUnit.campaign_id == campaign_id, CampaignUnit.org_id.in_(org_ids))):
        details[org_id]["signed_by"] = name
    keys = {unit_business_key(campaign_id, org_id): org_id for org_id in org_ids}
    for task, key in s.execute(select(HumanTask, ProcessInstance.business_key)
                               .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                               .where(ProcessInstance.business_key.in_(keys), HumanTask.state == TaskState.READY)
                               .order_by(HumanTask.id)):
        details[keys[key]]["tasks"].append(task)
    return details


def hazard_states(s: Session, hazard_ids: set[int]) -> dict[int, Hazard]:
    """The hazards linked from answers, by id (one query)."""
    return {h.id: h for h in s.scalars(select(Hazard).where(Hazard.id.in_(hazard_ids)))} if hazard_ids else {}


def today_in_china(now: datetime) -> date:
    """Today's date in China time."""
    return now.astimezone(CHINA).date()
