"""Read side of campaigns: scoped lists, one campaign's figures, a unit's items with its answers.

Visibility follows engine.visibility's org scope: a campaign is visible to whoever's scope covers its organising
org or one of its units; inside it, a caller sees only the units their scope covers (a college's staff: their
college). Every list is paginated and costs a fixed number of queries, whatever the page size.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session, aliased, joinedload

from engine.campaigns.checklists import items_for_unit
from engine.campaigns.coverage import UnitCoverage
from engine.campaigns.models import (
    Campaign,
    CampaignUnit,
    ChecklistItem,
    ChecklistTemplate,
    ItemResult,
    MissedHazard,
)
from engine.infra.errors import NotFound
from engine.org.models import OrgNode, User
from engine.org.scope import Scope
from engine.process.lifecycle import TaskState
from engine.process.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.process.tasklist import MAX_PAGE_SIZE, Page
from engine.rectification.models import Hazard

CAMPAIGN_FILTERS = {"status": Campaign.status, "kind": Campaign.kind, "level": Campaign.level,
                    "org_id": Campaign.org_id}
MISSED_SIDES = ("all", "missed", "found")


def _page_args(page: int, per_page: int) -> tuple[int, int]:
    return max(1, page), max(1, min(per_page, MAX_PAGE_SIZE))


def _under(scope: Scope):
    """WHERE clause over OrgNode: the nodes the scope covers (paths hold only digits and slashes)."""
    if not scope.paths:
        return false()
    return or_(*[OrgNode.path.startswith(p) for p in scope.paths])


def orgs_in(scope: Scope):
    """The ids of the org nodes the scope covers (a subquery)."""
    return select(OrgNode.id).where(_under(scope))


def visible_campaigns_clause(scope: Scope):
    """SQL clause over Campaign: organised within the scope, or with at least one unit in it."""
    if not scope.paths:
        return false()
    orgs = orgs_in(scope)
    return or_(Campaign.org_id.in_(orgs),
               Campaign.id.in_(select(CampaignUnit.campaign_id).where(CampaignUnit.org_id.in_(orgs))))


def list_campaigns(s: Session, scope: Scope, filters: dict | None = None, page: int = 1, per_page: int = 50) -> Page:
    """One page of the campaigns in scope, newest first, each with its organising org loaded in the same query."""
    page, per_page = _page_args(page, per_page)
    where = [visible_campaigns_clause(scope)]
    for name, value in (filters or {}).items():
        if value in (None, ""):
            continue
        if name not in CAMPAIGN_FILTERS:
            raise ValueError(f"unknown filter {name!r}")
        where.append(CAMPAIGN_FILTERS[name] == value)
    total = s.scalar(select(func.count()).select_from(Campaign).where(*where))
    rows = s.scalars(select(Campaign).where(*where).options(joinedload(Campaign.org), joinedload(Campaign.template))
                     .order_by(Campaign.created_at.desc(), Campaign.id.desc())
                     .limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


def get_visible_campaign(s: Session, scope: Scope, campaign_id: int) -> Campaign:
    """The campaign if it lies in scope; NotFound otherwise (another school's campaign ids reveal nothing)."""
    campaign = s.scalars(select(Campaign).where(Campaign.id == campaign_id, visible_campaigns_clause(scope))).first()
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


def visible_unit(s: Session, scope: Scope, campaign: Campaign, org_id: int) -> CampaignUnit:
    """The campaign's row for a unit the scope covers; NotFound for a unit outside it or not in the campaign."""
    row = s.execute(select(CampaignUnit, OrgNode.path).join(OrgNode, OrgNode.id == CampaignUnit.org_id)
                    .where(CampaignUnit.campaign_id == campaign.id, CampaignUnit.org_id == org_id)).first()
    if row is None or not scope.covers(row[1]):
        raise NotFound(f"unit {org_id} is not part of campaign {campaign.id}")
    return row[0]


def unit_business_key(campaign_id: int, org_id: int | None = None) -> str:
    """The business key campaign.bpmn gives a unit's self-check instance; without a unit, the keys' common prefix."""
    return f"campaign:{campaign_id}:unit:" + ("" if org_id is None else str(org_id))


def parse_business_key(key: str | None) -> tuple[int, int | None] | None:
    """(campaign id, unit id or None) from a campaign or unit self-check business key; None for anything else."""
    parts = (key or "").split(":")
    if len(parts) == 2 and parts[0] == "campaign" and parts[1].isdigit():
        return int(parts[1]), None
    if len(parts) == 4 and parts[0] == "campaign" and parts[2] == "unit" and parts[1].isdigit() and parts[3].isdigit():
        return int(parts[1]), int(parts[3])
    return None


def describe_business_keys(s: Session, keys: list[str]) -> dict[str, dict]:
    """Inbox labels of campaign and unit self-check business keys: the campaign's id and title (one query)."""
    parsed = {key: parse_business_key(key) for key in keys}
    ids = {p[0] for p in parsed.values() if p}
    titles = dict(s.execute(select(Campaign.id, Campaign.title).where(Campaign.id.in_(ids))).all()) if ids else {}
    return {key: {"kind": "campaign", "id": p[0], "title": titles[p[0]]}
            for key, p in parsed.items() if p and p[0] in titles}


def unit_task_counts(s: Session, campaign_id: int) -> dict[str, int]:
    """Open tasks of the units' self-check instances, counted per BPMN id (one grouped query)."""
    return dict(s.execute(
        select(HumanTask.bpmn_id, func.count()).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(HumanTask.state == TaskState.READY, ProcessInstance.business_key.startswith(unit_business_key(campaign_id)))
        .group_by(HumanTask.bpmn_id)).all())


def unit_tasks(s: Session, campaign_id: int, org_id: int) -> list[HumanTask]:
    """The open tasks of one unit's self-check instance (逐项自查, 签字上报, 审核, and any the diagram adds)."""
    return list(s.scalars(
        select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(HumanTask.state == TaskState.READY, ProcessInstance.business_key == unit_business_key(campaign_id, org_id))
        .order_by(HumanTask.id)))


def unit_coverage_page(s: Session, scope: Scope, campaign: Campaign, page: int = 1, per_page: int = 50,
                       status: str | None = None) -> Page:
    """One page of per-unit coverage for the units in scope: three queries for the page, none per unit."""
    page, per_page = _page_args(page, per_page)
    where = [CampaignUnit.campaign_id == campaign.id, _under(scope)]
    if status:
        where.append(CampaignUnit.status == status)
    base = select(CampaignUnit, OrgNode).join(OrgNode, OrgNode.id == CampaignUnit.org_id).where(*where)
    total = s.scalar(select(func.count()).select_from(base.subquery()))
    rows = s.execute(base.order_by(CampaignUnit.id).limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=_coverages(s, campaign, rows), total=total, page=page, per_page=per_page)


def unit_coverage_of(s: Session, cu: CampaignUnit) -> UnitCoverage:
    """One unit's coverage."""
    return _coverages(s, cu.campaign, [(cu, cu.org)])[0]


def _coverages(s: Session, campaign: Campaign, rows) -> list[UnitCoverage]:
    # Two grouped queries over the given units' answers, and the template's items once.
    ids = [cu.id for cu, _ in rows]
    counts: dict[tuple[int, str], int] = {}
    answered: dict[int, int] = defaultdict(int)
    if ids:
        distinct_items = func.count(func.distinct(ItemResult.item_id))
        for cu_id, result, n in s.execute(
                select(ItemResult.campaign_unit_id, ItemResult.result, distinct_items)
                .where(ItemResult.campaign_unit_id.in_(ids)).group_by(ItemResult.campaign_unit_id, ItemResult.result)):
            counts[(cu_id, result)] = n
        answered.update(s.execute(select(ItemResult.campaign_unit_id, distinct_items)
                                  .where(ItemResult.campaign_unit_id.in_(ids))
                                  .group_by(ItemResult.campaign_unit_id)).all())
    template = campaign.template
    return [UnitCoverage(cu.id, org.id, org.name, len(items_for_unit(template, org)), answered[cu.id],
                         counts.get((cu.id, "checked"), 0), counts.get((cu.id, "na"), 0),
                         counts.get((cu.id, "hazard"), 0), cu.status, cu.signed_at) for cu, org in rows]


def unit_results(s: Session, campaign_unit_id: int) -> dict[int, list[tuple[ItemResult, str]]]:
    """A unit's answers by item id, by location, each with the name of who gave it (one query)."""
    answers: dict[int, list[tuple[ItemResult, str]]] = {}
    for result, name in s.execute(select(ItemResult, User.display_name).join(User, User.id == ItemResult.by_id)
                                  .where(ItemResult.campaign_unit_id == campaign_unit_id)
                                  .order_by(ItemResult.location, ItemResult.id)):
        answers.setdefault(result.item_id, []).append((result, name))
    return answers


def unit_items(s: Session, cu: CampaignUnit) -> list[dict]:
    """The unit's checklist items, each with every answer it has (one per location), answerer names included."""
    answers = unit_results(s, cu.id)
    return [{"id": item.id, "position": item.position, "category": item.category, "serial": item.serial,
             "content": item.content, "methods": item.methods, "units": item.units, "lead_unit": item.lead_unit,
             "locations": item.locations,
             "answers": [{"id": r.id, "location": r.location, "result": r.result, "hazard_id": r.hazard_id,
                          "note": r.note, "by_id": r.by_id, "by": name, "at": r.at}
                         for r, name in answers.get(item.id, [])]}
            for item in items_for_unit(cu.campaign.template, cu.org)]


def result_hazards(s: Session, result_ids: list[int]) -> list[int]:
    """The hazards linked to these item results (the ones a "hazard found" answer started)."""
    if not result_ids:
        return []
    return sorted(s.scalars(select(ItemResult.hazard_id).where(ItemResult.id.in_(result_ids),
                                                               ItemResult.hazard_id.is_not(None))))


def missed_records(s: Session, scope: Scope, campaign_id: int, side: str = "all", page: int = 1,
                   per_page: int = 50, hazard_id: int | None = None) -> Page:
    """应发现未发现 records of a campaign: what its units missed, what its findings exposed, or both; in scope only."""
    if side not in MISSED_SIDES:
        raise ValueError(f"unknown side {side!r}; expected one of {MISSED_SIDES}")
    page, per_page = _page_args(page, per_page)
    sides = {"missed": MissedHazard.campaign_id == campaign_id,
             "found": MissedHazard.found_by_campaign_id == campaign_id}
    which = or_(*sides.values()) if side == "all" else sides[side]
    where = [which, MissedHazard.org_id.in_(orgs_in(scope))]
    if hazard_id is not None:
        where.append(MissedHazard.hazard_id == hazard_id)
    total = s.scalar(select(func.count()).select_from(MissedHazard).where(*where))
    person, signer = aliased(User), aliased(User)
    rows = s.execute(
        select(MissedHazard, Hazard, OrgNode.name, person.display_name, signer.display_name)
        .join(Hazard, Hazard.id == MissedHazard.hazard_id).join(OrgNode, OrgNode.id == MissedHazard.org_id)
        .join(person, person.id == MissedHazard.person_id).outerjoin(signer, signer.id == MissedHazard.signer_id)
        .where(*where).order_by(MissedHazard.recorded_at.desc(), MissedHazard.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    items = [{"id": m.id, "hazard_id": m.hazard_id, "item_result_id": m.item_result_id, "campaign_id": m.campaign_id,
              "org_id": m.org_id, "org": org_name, "level": m.level, "person_id": m.person_id, "person": person_name,
              "signer_id": m.signer_id, "signer": signer_name, "found_level": m.found_level,
              "found_by_campaign_id": m.found_by_campaign_id, "recorded_at": m.recorded_at,
              "hazard": {"id": h.id, "unit_id": h.unit_id, "unit_serial": h.unit_serial, "location": h.location,
                         "problem": h.problem, "category": h.category, "grade": h.grade, "status": h.status,
                         "check_item": h.check_item}}
             for m, h, org_name, person_name, signer_name in rows]
    return Page(items=items, total=total, page=page, per_page=per_page)


def _templates_with_counts():
    """Checklist templates with their item counts, oldest first (one grouped query, not one per template)."""
    counts = (select(ChecklistItem.template_id, func.count().label("n")).group_by(ChecklistItem.template_id)
              .subquery())
    return (select(ChecklistTemplate, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.template_id == ChecklistTemplate.id).order_by(ChecklistTemplate.id))


def template_counts(s: Session) -> list[tuple[ChecklistTemplate, int]]:
    """Every checklist template with its item count (one query)."""
    return list(s.execute(_templates_with_counts()).all())


def list_checklists(s: Session, page: int = 1, per_page: int = 50) -> Page:
    """One page of checklist templates with their item counts."""
    page, per_page = _page_args(page, per_page)
    total = s.scalar(select(func.count()).select_from(ChecklistTemplate))
    rows = s.execute(_templates_with_counts().limit(per_page).offset((page - 1) * per_page)).all()
    items = [{"id": t.id, "name": t.name, "source": t.source, "created_at": t.created_at,
              "created_by_id": t.created_by_id, "item_count": n} for t, n in rows]
    return Page(items=items, total=total, page=page, per_page=per_page)


def start_form(s: Session, process_key: str) -> dict | None:
    """The JSON Schema of the start form of a process's latest deployed version (to check input before a verb)."""
    definition = s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == process_key)
                           .order_by(ProcessDefinition.version.desc())).first()
    if definition is None:
        return None
    return definition.forms.get(definition.forms.get("__start__") or "")
