"""Who may record an inspection finding (联检联查, 督导检查, 回头看) for which unit, and starting a look-back.

Shared by the REST API (web/api/campaigns.py) and the campaign pages, so the two cannot drift apart.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns.models import Campaign, CampaignUnit
from engine.campaigns.service import Campaigns
from engine.infra.errors import InvalidFormData
from engine.org.models import OrgNode, User
from engine.org.scope import Scope, scope_of
from engine.rectification.models import Hazard

FINDER_ROLES = {"inspector", "security_office", "leader", "supervisor", "admin"}  # 联检, 督导, 回头看
FINDING_SOURCES = ("joint_inspection", "supervision", "look_back")
FINDING_UNIT_KINDS = ("school", "unit", "grid")


def finding_unit_in_reach(unit: OrgNode | None, campaign: Campaign, scope: Scope) -> bool:
    """A unit a finding of this campaign may name: a school, unit or grid under the campaign's org, in scope."""
    return (unit is not None and unit.kind in FINDING_UNIT_KINDS and unit.path.startswith(campaign.org.path)
            and scope.covers(unit.path))


def may_report_finding(user: User, unit: OrgNode) -> bool:
    """Inspectors, the security office, leaders, supervisors and admins holding the role at the unit or above it."""
    above = set(unit.ancestor_ids())
    return any(g.role in FINDER_ROLES and g.org_id in above for g in user.grants)


def finding_units(s: Session, user: User, campaign: Campaign) -> list[OrgNode]:
    """The campaign's units the user may record findings for (in scope and with a finder role there)."""
    scope = scope_of(s, user)
    units = s.scalars(select(OrgNode).join(CampaignUnit, CampaignUnit.org_id == OrgNode.id)
                      .where(CampaignUnit.campaign_id == campaign.id).order_by(OrgNode.path))
    return [u for u in units if finding_unit_in_reach(u, campaign, scope) and may_report_finding(user, u)]


def start_look_back(services, user_id: int, title: str, template_id: int, org_id: int, sample_size: int,
                    seed: int | None, stages: dict, unit_ids: list[int] | None = None,
                    filters: dict | None = None) -> Campaign:
    """Sample closed hazards under the org, narrowed by `filters` (engine.campaigns.sampling; seed and filters
    recorded), and start a look-back over their units (or `unit_ids`)."""

    campaigns = Campaigns(services)
    sample, seed, filters = campaigns.sample_look_back(org_id, sample_size, seed, filters)
    if not sample:
        with services.uow() as uow:
            name = uow.session.get(OrgNode, org_id).name
        message = (f"no closed hazard under {name} matches the filters" if filters
                   else f"there are no closed hazards under {name} to sample")
        raise InvalidFormData(f"sample_size: {message}", [{"field": "sample_size", "message": message}])
    if not unit_ids:
        with services.uow() as uow:
            unit_ids = sorted(set(uow.session.scalars(select(Hazard.unit_id).where(Hazard.id.in_(sample)))))
    return campaigns.create_campaign(user_id, title, template_id, unit_ids, stages, org_id=org_id, kind="look_back",
                                     sample=sample, sample_seed=seed, sample_filters=filters)
