"""Campaigns (专项整治): create one, fan out a self-check instance per unit, record item results as rows.

The campaign instance (bpmn/campaign.bpmn) never holds the units' work: each unit's self-check is its own
instance (bpmn/unit_self_check.bpmn), started by a message and reporting back by message (messaging.py),
and each item answer is a row in `item_results`, so every task tree stays small.
"""
from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.campaigns.checklists import items_for_unit
from engine.campaigns.coverage import record_missed
from engine.campaigns.look_back import REOPEN_MESSAGE, look_backs_that_reopened, reopened_hazard_ids
from engine.campaigns.models import (
    ITEM_RESULTS,
    LEVELS,
    ORGANISER_ROLES,
    SUPERVISED_BY,
    Campaign,
    CampaignUnit,
    ChecklistItem,
    ChecklistTemplate,
    ItemResult,
)
from engine.campaigns import sampling
from engine.campaigns.queries import describe_business_keys
from engine.campaigns.situation_reports import REPORT_FIELD, store_situation_report
from engine.campaigns.supervision import (
    REPORT_CHECK,
    store_supervision_report,
    supervision_targets,
)
from engine.infra.errors import (
    InvalidFormData,
    NotAllowed,
    NotFound,
    RectiflowError,
    WorkflowFailed,
)
from engine.infra.timezone import CHINA, as_date
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.contracts import Contract
from engine.process.events import record_event
from engine.process.hooks import Advance, Completion, Hooks
from engine.process.lifecycle import InstanceState
from engine.process.messaging import send_message
from engine.rectification.hazards import HAZARD_PROCESS, assign_unit, report_hazard
from engine.rectification.models import Hazard

CAMPAIGN_PROCESS = "campaign"
SELF_CHECK_PROCESS = "unit_self_check"
CLEARED_MESSAGE = "campaign_hazards_cleared"
SELF_CHECK_SENT_MESSAGE = "unit_self_check_start"  # campaign → each unit (starts its self-check)
SELF_CHECK_RETURNED_MESSAGE = "self_check_returned"  # the unit's self-check → its campaign
# The self-check's user tasks and the completionCheck each names (the unit page names work_checklist).
SELF_CHECK_TASK_CHECKS = {"work_checklist": "checklist_complete", "sign_self_check": "sign_self_check",
                          "review_self_check": "review_self_check", "situation_report": "situation_report"}
STAGE_KEYS = ("self_check", "joint_inspection", "rectification", "supervision")

class ChecklistIncomplete(RectiflowError):
    """A unit tried to finish its self-check with checklist items still unanswered."""

    code = "checklist_incomplete"



def chosen_stages(stages: dict, stage_list=None) -> tuple[list[str], list[dict]]:
    """The campaign's stages in their fixed order (self-check first), and field errors.

    Without an explicit `stage_list`, the stages given a window are the chosen ones."""
    errors: list[dict] = []
    if stage_list is None:
        wanted = [k for k in STAGE_KEYS if k in stages]
    else:
        wanted = list(stage_list)
        errors += [{"field": "stage_list", "message": f"unknown stage {k!r}; expected some of {', '.join(STAGE_KEYS)}"}
                   for k in wanted if k not in STAGE_KEYS]
        errors += [{"field": f"stages.{k}", "message": "not among the chosen stages (stage_list)"}
                   for k in STAGE_KEYS if k in stages and k not in wanted]
    if "self_check" not in wanted:
        errors.append({"field": "stage_list" if stage_list is not None else "stages.self_check.end",
                       "message": "every campaign has the self-check" if stage_list is not None else "required"})
    return [k for k in STAGE_KEYS if k in wanted or k == "self_check"], errors


def campaign_stage_keys(stages: dict | None) -> list[str]:
    """The stages a stored campaign has, in order (campaigns from before stage choice have all four)."""
    return [k for k in STAGE_KEYS if k in (stages or {})] or list(STAGE_KEYS)


def stage_windows(stages: dict, now: datetime, keys=STAGE_KEYS) -> tuple[dict, dict, list[dict]]:
    """Each chosen stage's end (required) and start (default: today, i.e. it opens as soon as the flow reaches it)."""
    ends, starts, errors = {}, {}, []
    today = now.astimezone(CHINA).date()
    for key in keys:
        window = stages.get(key) or {}
        try:
            end, start = as_date(window.get("end")), as_date(window.get("start"))
        except ValueError:
            errors.append({"field": f"stages.{key}", "message": "dates must be YYYY-MM-DD"})
            continue
        if end is None:
            errors.append({"field": f"stages.{key}.end", "message": "required"})
            continue
        start = start or min(today, end)
        if start > end:
            errors.append({"field": f"stages.{key}.start", "message": f"starts after it ends ({start} > {end})"})
        ends[key], starts[key] = end, start
    return ends, starts, errors


def situation_report_due(stages: dict, starts: dict, ends: dict) -> tuple[object, list[dict]]:
    """The 安全形势分析报告 due date (seed 000: with the self-check): as set, else the self-check's end."""
    field = "stages.situation_report_due"
    try:
        due = as_date(stages.get("situation_report_due"))
    except ValueError:
        return None, [{"field": field, "message": "dates must be YYYY-MM-DD"}]
    if due is None:
        return ends.get("self_check"), []
    if "self_check" in starts and due < starts["self_check"]:
        return due, [{"field": field, "message": f"due before the self-check starts ({due} < {starts['self_check']})"}]
    return due, []


def parse_report_dates(values) -> tuple[list, list[dict]]:
    """The statistics report dates (报送日期) of a campaign, sorted; bad entries become field errors."""
    dates, errors = [], []
    for n, value in enumerate(values or []):
        try:
            dates.append(as_date(value))
        except ValueError:
            errors.append({"field": f"stages.report_dates.{n}", "message": f"{value!r} is not a date (YYYY-MM-DD)"})
    return sorted(d for d in dates if d is not None), errors


def _expand_to_units(s: Session, chosen: list[OrgNode]) -> list[OrgNode]:
    """Units and grids as they are; a school, bureau or city chosen as a whole stands for its active units."""
    out: dict[int, OrgNode] = {}
    for node in chosen:
        if node.kind in ("unit", "grid"):
            out.setdefault(node.id, node)
            continue
        for unit in s.scalars(select(OrgNode).where(OrgNode.kind == "unit", OrgNode.active.is_(True),
                                                   OrgNode.path.startswith(node.path)).order_by(OrgNode.path)):
            out.setdefault(unit.id, unit)
    return list(out.values())


def _schools_of(s: Session, units: list[OrgNode], organiser: OrgNode) -> dict[str, int]:
    """{unit id: its school's id} in one query; a school answering as one unit is reviewed by the organiser."""
    schools = accounts.nearest_ids(s, units, "school")
    return {str(u.id): schools.get(u.id, organiser.id) if u.kind in ("unit", "grid") else organiser.id
            for u in units}


def campaign_unit_for(s: Session, campaign_id: int, org_id: int, lock: bool = False) -> CampaignUnit:
    """The campaign's row for one unit, or NotFound."""
    stmt = select(CampaignUnit).where(CampaignUnit.campaign_id == campaign_id, CampaignUnit.org_id == org_id)
    unit = s.scalars(stmt).first()
    if unit is None:
        raise NotFound(f"unit {org_id} is not part of campaign {campaign_id}")
    return unit


def open_hazard_count(s: Session, campaign_id: int) -> int:
    """Hazards of a campaign not yet closed (销号), counting those a look-back reopened as the look-back's."""
    return s.scalar(select(func.count()).select_from(Hazard).where(
        or_(Hazard.campaign_id == campaign_id, Hazard.id.in_(reopened_hazard_ids(campaign_id))),
        Hazard.closed_at.is_(None))) or 0


class Campaigns:
    """Campaign verbs; built on the engine's Services (same unit of work, clock and runtime)."""

    def __init__(self, services):
        self.services = services

    def create_campaign(self, user_id: int, title: str, template_id: int, unit_ids: list[int], stages: dict,
                        org_id: int | None = None, kind: str = "campaign", sample: list[int] | None = None,
                        sample_seed: int | None = None, within=None, whole_schools: bool = False,
                        stage_list: list[str] | None = None, supervised_by: str = "bureau",
                        sample_filters: dict | None = None) -> Campaign:
        """Create a campaign over `unit_ids` and start it; one self-check instance per unit starts by message.

        A school among `unit_ids` answers as one unit (its staff at the school node), as upper levels' campaigns
        over schools did so far; with `whole_schools` every school or bureau chosen stands for its active units.

        `stage_list` picks the stages (self-check first, in STAGE_KEYS order; default: those `stages` dates);
        the diagram's gateways skip the others. `supervised_by` is who does 督导检查: the bureau or, for a school's
        campaign, the checklist's 牵头部门 (engine/campaigns/supervision.py).

        `within(session, campaign)` joins the commit (a recurring inspection records its occurrence there).
        """
        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            org = s.get(OrgNode, org_id) if org_id else accounts.nearest(s, user.org, "school") or user.org
            if org is None:
                raise NotFound(f"organisation {org_id} does not exist")
            if not any(g.role in ORGANISER_ROLES and g.org_id in org.ancestor_ids() for g in user.grants):
                raise NotAllowed("only the security office, a leader or a supervisor may start a campaign here")
            template = s.get(ChecklistTemplate, template_id)
            if template is None:
                raise NotFound(f"checklist {template_id} does not exist")
            found = {n.id: n for n in s.scalars(select(OrgNode).where(OrgNode.id.in_(list(set(unit_ids)))))}
            chosen = [found.get(uid) for uid in dict.fromkeys(unit_ids)]  # one query, in the caller's order
            errors = [{"field": "unit_ids", "message": f"unit {uid} is not within {org.name}"}
                      for uid, unit in zip(dict.fromkeys(unit_ids), chosen)
                      if unit is None or not unit.path.startswith(org.path)]
            units = [u for u in chosen if u is not None and u.path.startswith(org.path)]
            if whole_schools:
                units = _expand_to_units(s, units)
            keys, choice_errors = chosen_stages(stages, stage_list)
            dates, starts, stage_errors = stage_windows(stages, now, keys)
            errors += choice_errors + stage_errors
            report_due, due_errors = situation_report_due(stages, starts, dates)
            errors += due_errors
            if supervised_by not in SUPERVISED_BY:
                errors.append({"field": "supervised_by", "message": f"must be one of {', '.join(SUPERVISED_BY)}"})
            elif supervised_by != "bureau" and "supervision" not in keys:
                errors.append({"field": "supervised_by", "message": "the campaign has no supervision stage"})
            report_dates, report_errors = parse_report_dates(stages.get("report_dates"))
            errors += report_errors
            if not units:
                errors.append({"field": "unit_ids", "message": "choose at least one unit"})
            bureau_id = org.parent_id if org.kind == "school" else org.id
            targets, target_errors = (supervision_targets(s, org, units, template, supervised_by, bureau_id)
                                      if units and supervised_by in SUPERVISED_BY else ([], []))
            errors += target_errors
            if errors:
                raise InvalidFormData("the campaign cannot start: " + "; ".join(e["message"] for e in errors), errors)
            level = org.kind if org.kind in LEVELS else "school"
            stored = {k: v for k, v in stages.items() if k not in STAGE_KEYS or k in keys}
            stored["situation_report_due"] = report_due.isoformat()
            campaign = Campaign(title=title, kind=kind, org_id=org.id, level=level, template_id=template.id,
                                stages=stored, supervised_by=supervised_by, sample=sample or [],
                                sample_seed=sample_seed, sample_filters=sample_filters, created_at=now,
                                created_by_id=user.id)
            campaign.next_report_date = report_dates[0] if report_dates else None  # the statistics job's index
            s.add(campaign)
            s.flush()
            for unit in units:
                s.add(CampaignUnit(campaign_id=campaign.id, org_id=unit.id))
            definition = svc.latest_definition(s, CAMPAIGN_PROCESS)
            # Each unit's self-check is reviewed by its own school's security office (unit_schools, read by the
            # diagram's send task); a school's campaign is supervised by its bureau (or its lead offices), a bureau's
            # or city's by itself. The diagram's gateways read stage_list; supervision_check runs once per target.
            data = dict(campaign_id=campaign.id, org_id=org.id, school_id=org.id, bureau_id=bureau_id,
                        stage_list=keys, supervision_targets=targets, supervised_by=supervised_by,
                        unit_schools=_schools_of(s, units, org),
                        unit_ids=[u.id for u in units], unit_count=len(units),
                        report_dates=[d.isoformat() for d in report_dates],
                        situation_report_due=report_due.isoformat(),
                        **{f"{k}_start": v.isoformat() for k, v in starts.items()},
                        **{f"{k}_end": v.isoformat() for k, v in dates.items()})
            try:
                workflow = svc.runtime.start(definition, data)
            except Exception as exc:
                raise WorkflowFailed(f"the campaign could not start: {exc}") from None
            projector = svc.projector(s, now, user.id)
            instance = projector.new_instance(definition, f"campaign:{campaign.id}")
            campaign.instance_id = instance.id
            record_event(s, now, "CampaignCreated", user.id, instance_id=instance.id, campaign_id=campaign.id,
                         title=title, units=len(units), template_id=template.id)
            projector.persist(instance, workflow, None)
            if within is not None:
                within(s, campaign)
            uow.commit()
            return campaign

    def record_item_results(self, user_id: int, campaign_id: int, unit_id: int, results: list[dict]) -> list[int]:
        """Record a unit's answers (checked / na / hazard); a hazard answer starts its own rectification instance."""
        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            cu = self._writable_unit(s, user, campaign_id, unit_id)
            allowed = {i.id: i for i in items_for_unit(cu.campaign.template, cu.org)}
            errors = []
            for n, row in enumerate(results):
                if row.get("item_id") not in allowed:
                    errors.append({"field": f"{n}.item_id", "message": f"item {row.get('item_id')} is not on this unit's list"})
                if row.get("result") not in ITEM_RESULTS:
                    errors.append({"field": f"{n}.result", "message": f"result must be one of {', '.join(ITEM_RESULTS)}"})
                if row.get("result") == "hazard" and not isinstance(row.get("hazard"), dict):
                    errors.append({"field": f"{n}.hazard", "message": "describe the hazard found"})
            if errors:
                raise InvalidFormData("invalid item results", errors)
            existing = {(r.item_id, r.location): r for r in s.scalars(
                select(ItemResult).where(ItemResult.campaign_unit_id == cu.id))}
            written = [self._upsert(s, cu, row, user.id, now, existing) for row in results if row["result"] != "hazard"]
            s.flush()
            ids = [r.id for r in written]
            school = accounts.nearest(s, cu.org, "school")
            uow.commit()
        for row in (r for r in results if r["result"] == "hazard"):
            item = allowed[row["item_id"]]
            data = {"location": row.get("location") or cu.org.name, "check_item": item.content,
                    "category": "其他", "source": "self_check", **row["hazard"]}

            def link(s2, hazard, row=row):
                if hazard.unit_id != cu.org_id:  # recorded by someone above the unit: the unit is still responsible
                    assign_unit(s2, hazard, cu.org_id)
                result = self._upsert(s2, s2.get(CampaignUnit, cu.id), dict(row, hazard_id=hazard.id), user_id,
                                      svc.clock.now())
                s2.flush()
                ids.append(result.id)

            report_hazard(svc, user_id, data, school_id=school.id if school else None, campaign_id=campaign_id,
                              within=link)
        return ids

    def _writable_unit(self, s: Session, user, campaign_id: int, unit_id: int) -> CampaignUnit:
        cu = campaign_unit_for(s, campaign_id, unit_id)
        if not any(g.org_id == unit_id or g.org_id in cu.org.ancestor_ids() for g in user.grants):
            raise NotAllowed(f"you may not record results for {cu.org.name}")
        if cu.status in ("signed", "returned"):
            raise NotAllowed(f"{cu.org.name}'s self-check is signed; the security office must send it back first")
        return cu

    @staticmethod
    def _upsert(s: Session, cu: CampaignUnit, row: dict, user_id: int, now: datetime,
                existing: dict | None = None) -> ItemResult:
        location = (row.get("location") or "").strip()
        if existing is None:
            existing = {(r.item_id, r.location): r for r in s.scalars(select(ItemResult).where(
                ItemResult.campaign_unit_id == cu.id, ItemResult.item_id == row["item_id"]))}
        result = existing.get((row["item_id"], location))
        if result is None:
            result = existing[(row["item_id"], location)] = ItemResult(campaign_unit_id=cu.id, item_id=row["item_id"],
                                                                       location=location)
            s.add(result)
        result.result, result.note, result.by_id, result.at = row["result"], row.get("note"), user_id, now
        result.hazard_id = row.get("hazard_id")
        return result

    def report_finding(self, user_id: int, campaign_id: int, unit_id: int, data: dict,
                       item_id: int | None = None) -> Hazard:
        """A hazard found by a joint inspection, supervision or look-back; records 应发现未发现 where it applies."""
        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            campaign = s.get(Campaign, campaign_id)
            unit = s.get(OrgNode, unit_id)
            if campaign is None or unit is None:
                raise NotFound("no such campaign or unit")
            item = s.get(ChecklistItem, item_id) if item_id else None
            school = accounts.nearest(s, unit, "school")
        if item is not None:
            data = {**data, "check_item": item.content}

        def account(s2, hazard):
            if unit_id != hazard.unit_id and s2.get(OrgNode, unit_id).path.startswith(s2.get(OrgNode, hazard.school_id).path):
                assign_unit(s2, hazard, unit_id)
            record_missed(s2, hazard, s2.get(Campaign, campaign_id), svc.clock.now())

        return report_hazard(svc, user_id, data, school_id=school.id if school else None, campaign_id=campaign_id,
                                 within=account)

    def sample_look_back(self, org_id: int, size: int, seed: int | None = None,
                         filters: dict | None = None) -> tuple[list[int], int, dict | None]:
        """Sample closed hazards under an organisation at random, narrowed by `filters` (engine.campaigns.sampling);
        returns (hazard ids, the seed used, the filters as stored), both recorded for audit."""
        seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
        with self.services.uow() as uow:
            s = uow.session
            org = s.get(OrgNode, org_id)
            filters = sampling.normalise_filters(s, org, filters)
            closed = sorted(s.scalars(select(Hazard.id).join(OrgNode, OrgNode.id == Hazard.unit_id).where(
                Hazard.closed_at.is_not(None), OrgNode.path.startswith(org.path),
                *sampling.filter_clauses(s, filters))))
        return sorted(random.Random(seed).sample(closed, min(size, len(closed)))), seed, filters


# -- hooks the process core calls ---------------------------------------------------------------------
def _campaign_unit_of(completion: Completion) -> CampaignUnit:
    """The unit row a self-check task works on (its process data names the campaign and the unit)."""
    task, wf_data = completion.task, completion.spiff_task.data
    if "campaign_id" not in wf_data or "unit_id" not in wf_data:
        raise WorkflowFailed(f"task {task.bpmn_id!r}: this completionCheck needs campaign_id and unit_id in the "
                             "process data")
    cu = campaign_unit_for(completion.session, int(wf_data["campaign_id"]), int(wf_data["unit_id"]))
    cu.instance_id = task.instance_id
    return cu


def _unit_check(check):
    """Adapt a check over a campaign unit's row to a completionCheck handler."""
    def handler(completion: Completion) -> None:
        check(completion.session, _campaign_unit_of(completion), completion.user, completion.data, completion.now)
    return handler


def _check_items_answered(s: Session, cu: CampaignUnit, user, data: dict, now: datetime) -> None:
    required = {i.id: i for i in items_for_unit(cu.campaign.template, cu.org)}
    answered = set(s.scalars(select(ItemResult.item_id).where(ItemResult.campaign_unit_id == cu.id)))
    missing = [i for item_id, i in required.items() if item_id not in answered]
    if missing:
        raise ChecklistIncomplete(
            f"{len(missing)} checklist item(s) are not answered yet: "
            + "; ".join(f"{i.category} {i.serial}" for i in missing[:10]),
            missing=[i.id for i in missing])


def _sign(s: Session, cu: CampaignUnit, user, data: dict, now: datetime) -> None:
    _check_items_answered(s, cu, user, data, now)
    cu.status, cu.signed_at, cu.signed_by_id = "signed", now, user.id


def _review(s: Session, cu: CampaignUnit, user, data: dict, now: datetime) -> None:
    if data.get("decision") == "return":
        cu.status, cu.signed_at, cu.signed_by_id = "sent_back", None, None
        cu.sent_back += 1
    else:
        cu.status, cu.returned_at = "returned", now


COMPLETION_CHECKS = {"checklist_complete": _check_items_answered, "sign_self_check": _sign,
                     "review_self_check": _review, "situation_report": store_situation_report}


def signal_campaigns(advance: Advance) -> None:
    """Routed listener: tell a campaign when its last hazard closes; mark a finished campaign closed."""
    projector, instance, hazard = advance.projector, advance.instance, advance.subject
    new_names = advance.new_subscriptions
    s = projector.session
    campaign_ids, sender_id = [], None
    if isinstance(hazard, Hazard) and hazard.closed_at == projector.now:
        # Its own campaign, and any look-back that reopened it, may now be clear.
        campaign_ids = [c for c in dict.fromkeys([hazard.campaign_id, *look_backs_that_reopened(s, hazard.id)]) if c]
        sender_id = instance.id
    elif CLEARED_MESSAGE in new_names or instance.status == InstanceState.COMPLETED:
        campaign = s.scalars(select(Campaign).where(Campaign.instance_id == instance.id)).first()
        if campaign is not None and instance.status == InstanceState.COMPLETED:
            campaign.status = "closed"
        campaign_ids = [campaign.id] if campaign is not None and CLEARED_MESSAGE in new_names else []
    for campaign_id in campaign_ids:
        if open_hazard_count(s, campaign_id) == 0:
            send_message(projector, CLEARED_MESSAGE, {"campaign": {"campaign_id": campaign_id}},
                         {"campaign_id": campaign_id, "open_hazards": 0}, sender_id=sender_id)


# What the campaign code (this module, phase.py, look_back.py, situation_reports.py and the campaign pages) relies
# on in the shipped diagrams: task and step ids the pages and the phase rule name, the stages the phase is read
# from, the messages between a campaign and its units, and the self-check's completion checks.
CAMPAIGN_CONTRACT = Contract(
    subject="campaigns (engine/campaigns)",
    started_through="open a campaign on the page /campaigns/new or POST /api/v1/campaigns",
    user_tasks=("joint_inspection", "supervision_check", "review_returns"),  # phase.STAGE_CLOSING_TASKS, FINDING_TASKS
    elements=("self_check_opens", "collect_returns", "rectification_wait"),  # the waits the campaign page shows
    sends=(SELF_CHECK_SENT_MESSAGE,),
    catches=(SELF_CHECK_RETURNED_MESSAGE, CLEARED_MESSAGE),
    stages=(*[k for k in STAGE_KEYS if k != "rectification"], "summary"),
    data_keys=("report", "participants"),  # store_supervision_report reads them (and the loop's supervision_target)
    properties={"supervision_check": {"completionCheck": REPORT_CHECK}},
)
SELF_CHECK_CONTRACT = Contract(
    subject="campaigns (engine/campaigns)",
    started_through="its campaign sends the self-check to each unit (/campaigns)",
    user_tasks=tuple(SELF_CHECK_TASK_CHECKS),
    message_starts=(SELF_CHECK_SENT_MESSAGE,),
    sends=(SELF_CHECK_RETURNED_MESSAGE,),
    data_keys=(REPORT_FIELD, "decision"),  # store_situation_report and _review read them
    properties={task: {"completionCheck": check} for task, check in SELF_CHECK_TASK_CHECKS.items()},
)
LOOK_BACK_CONTRACT = Contract(subject="campaigns' look-back (engine/campaigns/look_back.py)",
                              message_starts=(REOPEN_MESSAGE,))


def register(hooks: Hooks) -> None:
    """Plug campaigns into the process core: the self-check's completion checks and the clearing signal."""
    for name, check in COMPLETION_CHECKS.items():
        hooks.add_completion_check(name, _unit_check(check))
    hooks.add_completion_check(REPORT_CHECK, store_supervision_report)
    hooks.on_routed(signal_campaigns)
    hooks.add_describer("campaign", describe_business_keys)  # the inbox's campaign column
    hooks.protect(CAMPAIGN_PROCESS, CAMPAIGN_CONTRACT)
    hooks.protect(SELF_CHECK_PROCESS, SELF_CHECK_CONTRACT)
    hooks.protect(HAZARD_PROCESS, LOOK_BACK_CONTRACT)
