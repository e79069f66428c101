"""Campaign pages for inspection findings (联检联查 / 督导检查 / 回头看) and look-backs (回头看): start, re-inspect.

The routes join the campaigns blueprint (web/pages/campaign_common.py). Who may record a finding, and how a
look-back is started, is engine.campaign_findings' rule, shared with the REST API.
"""
from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns import dashboard as q
from engine.campaigns.findings import FINDING_SOURCES, finding_units, start_look_back
from engine.campaigns.look_back import (
    AlreadyReinspected,
    LookBacks,
    look_back_progress,
    may_reinspect,
    sample_items,
)
from engine.campaigns.models import OUTCOMES, Campaign, MissedHazard
from engine.campaigns.phase import process_phase
from engine.campaigns.service import Campaigns
from engine.infra.errors import InvalidFormData, RectiflowError
from engine.org.models import OrgNode, User
from web.auth import db_user, services
from web.pages import campaign_forms as forms
from web.pages import evidence
from web.pages.campaign_common import (
    PHASE_LABELS,
    bp,
    campaign_or_404,
    hazard_categories,
    hazard_schema,
    load_shipped,
)
from web.pages.forms_render import check_date_error, engine_errors, form_errors
from web.templating import GRADE_LABELS, error_text
from web.templating import SOURCE_LABELS as HAZARD_SOURCE_LABELS

SOURCE_LABELS = {"joint_inspection": _l("联检联查"), "supervision": _l("督导检查"), "look_back": _l("回头看")}
OUTCOME_LABELS = {"holds": _l("整改到位"), "reopened": _l("反弹（重新整改）")}
LOOK_BACK_TEMPLATE = "seed002_look_back"
DEFAULT_SAMPLE = 10
MAX_SAMPLE = 1000
MAX_SEED = 2**31 - 1
MAX_FILTER_CHOICES = 200


def default_source(campaign: Campaign, phase: str) -> str:
    """回头看 for a look-back, 督导检查 from the supervision stage on, 联检联查 before it."""
    if campaign.kind == "look_back":
        return "look_back"
    return "supervision" if phase in ("supervision", "summary", "closed") else "joint_inspection"


# -- recording a finding -----------------------------------------------------------------------------------------
def _finding_context(s: Session, user: User, campaign_id: int) -> dict:
    campaign, _scope = campaign_or_404(s, user, campaign_id)
    units = finding_units(s, user, campaign)
    if not units:
        abort(403)
    groups: list[tuple[str, list]] = []
    for item in campaign.template.items:
        if not groups or groups[-1][0] != item.category:
            groups.append((item.category, []))
        groups[-1][1].append(item)
    schema = hazard_schema(s)
    return {"campaign": campaign, "units": units, "groups": groups, "schema": schema,
            "categories": hazard_categories(schema), "phase": process_phase(s, campaign)[0]}


def _render_finding(ctx: dict, values: dict, errors: dict, status: int = 200):
    return render_template("campaigns/finding.html", values=values, errors=errors, sources=SOURCE_LABELS,
                           **ctx), status


def _parse_finding(form) -> dict:
    return {name: (form.get(name) or "").strip() for name in ("unit", "item", "location", "problem", "category",
                                                                "source", "checked_at")}


def _finding_errors(values: dict, ctx: dict, now) -> tuple[dict, dict]:
    """The errors by field, and the hazard data for report_finding (检查时间: today unless a past day is given)."""
    errors = {}
    if not values["unit"].isdigit() or int(values["unit"]) not in {u.id for u in ctx["units"]}:
        errors["unit"] = _("请从列表中选择")
    items = {i.id for _c, group in ctx["groups"] for i in group}
    if values["item"] and (not values["item"].isdigit() or int(values["item"]) not in items):
        errors["item"] = _("请从列表中选择")
    if values["source"] not in FINDING_SOURCES:
        errors["source"] = _("请从列表中选择")
    data = {k: values[k] for k in ("location", "problem", "category", "source") if values[k]}
    data["checked_at"] = values["checked_at"] or q.today_in_china(now).isoformat()
    if late := check_date_error(data["checked_at"], now):
        errors["checked_at"] = late
    for name, message in form_errors(ctx["schema"], data, now=now).items():
        errors.setdefault(name if name in values else "__form__", message)
    return errors, data


@bp.route("/campaigns/<int:campaign_id>/findings/new", methods=["GET", "POST"])
@login_required
def new_finding(campaign_id: int):
    """Record a hazard an inspection found; 应发现未发现 is recorded where a unit signed the item as fine."""
    svc = services()
    today = q.today_in_china(svc.clock.now())
    with svc.uow() as uow:
        s = uow.session
        ctx = _finding_context(s, db_user(s), campaign_id)
        back = url_for("campaigns.show", campaign_id=campaign_id)
        if ctx["campaign"].status == "closed":
            flash(_("本次专项整治已结束，不能再登记检查发现"), "warning")
            return redirect(back), 303
        if request.method == "GET":
            values = {"unit": str(ctx["units"][0].id) if len(ctx["units"]) == 1 else "", "item": "", "location": "",
                      "problem": "", "category": "", "source": default_source(ctx["campaign"], ctx["phase"]),
                      "checked_at": today.isoformat()}
            return _render_finding(ctx, values, {})
        values = _parse_finding(request.form)
        errors, data = _finding_errors(values, ctx, svc.clock.now())
        if errors:
            return _render_finding(ctx, values, errors, 422)
        unit_name = next(u.name for u in ctx["units"] if u.id == int(values["unit"]))
    photos = [f for f in request.files.getlist("photos") if f and f.filename]
    try:
        hazard = Campaigns(svc).report_finding(int(current_user.id), campaign_id, int(values["unit"]), data,
                                               item_id=int(values["item"]) if values["item"] else None)
    except RectiflowError as exc:
        errors = (engine_errors(exc.errors) if isinstance(exc, InvalidFormData) and exc.errors
                  else {"__form__": error_text(exc)})
        with svc.uow() as uow:
            return _render_finding(_finding_context(uow.session, db_user(uow.session), campaign_id), values, errors,
                                   422)
    failed = []
    for photo in photos:
        try:
            evidence.add(svc, int(current_user.id), hazard.id, photo)
        except RectiflowError as exc:
            failed.append(f"{photo.filename}: {error_text(exc)}")
    with svc.uow() as uow:
        missed = list(uow.session.scalars(select(OrgNode.name).join(MissedHazard, MissedHazard.org_id == OrgNode.id)
                                          .where(MissedHazard.hazard_id == hazard.id,
                                                 MissedHazard.found_by_campaign_id == campaign_id)))
    message = _("已登记隐患“%(problem)s”（%(unit)s），已进入整改流程", problem=data["problem"], unit=unit_name)
    if missed:
        message += _("；记录应发现未发现 %(n)s 条：%(units)s", n=len(missed), units="、".join(missed))
    flash(message, "success")
    if failed:
        flash(_("部分照片未保存：%(m)s", m="；".join(failed)), "warning")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id)), 303


# -- the look-back on the dashboard --------------------------------------------------------------------------
def dashboard_extras(s: Session, user: User, campaign: Campaign) -> dict:
    """What the dashboard adds: the finding button, and a look-back's sample with results and re-inspection form."""
    extras = {"can_find": campaign.status != "closed" and bool(finding_units(s, user, campaign)),
              "look_back": None}
    if campaign.kind == "look_back":
        progress = look_back_progress(s, campaign.id)
        items = sample_items(s, campaign.id)
        names = dict(s.execute(select(User.id, User.display_name).where(
            User.id.in_({r.by_id for _h, r in items if r}))).all()) if any(r for _h, r in items) else {}
        extras["look_back"] = {
            "progress": progress, "items": items, "names": names, "outcomes": OUTCOME_LABELS,
            "may_reinspect": campaign.status == "running" and may_reinspect(user, campaign),
            "filters": _filter_summary(s, campaign.sample_filters or {}),
            "deadline": (campaign.stages.get("rectification") or {}).get("end") or ""}
    return extras


def _filter_summary(s: Session, filters: dict) -> list[str]:
    """A look-back's recorded sample filters as short phrases (来源、等级、销号日期、单位、专项整治)."""
    parts = []
    if filters.get("source"):
        parts.append(_("来源：%(v)s", v="、".join(str(HAZARD_SOURCE_LABELS.get(k, k)) for k in filters["source"])))
    if filters.get("grade"):
        parts.append(_("等级：%(v)s", v="、".join(str(GRADE_LABELS.get(k, k)) for k in filters["grade"])))
    if filters.get("category"):
        parts.append(_("类别：%(v)s", v="、".join(filters["category"])))
    if filters.get("closed_from") or filters.get("closed_to"):
        parts.append(_("销号日期：%(a)s 至 %(b)s", a=filters.get("closed_from") or "…", b=filters.get("closed_to") or "…"))
    if filters.get("unit_ids"):
        names = s.scalars(select(OrgNode.name).where(OrgNode.id.in_(filters["unit_ids"])).order_by(OrgNode.name))
        parts.append(_("单位：%(v)s", v="、".join(names)))
    if filters.get("campaign_id"):
        title = s.scalar(select(Campaign.title).where(Campaign.id == filters["campaign_id"]))
        parts.append(_("专项整治：%(v)s", v=title or f"#{filters['campaign_id']}"))
    return parts


@bp.route("/campaigns/<int:campaign_id>/look-back/hazards/<int:hazard_id>", methods=["POST"])
@login_required
def reinspect(campaign_id: int, hazard_id: int):
    """Record one sampled hazard's re-inspection: 整改到位, or 反弹 with a new rectification run."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        campaign, _scope = campaign_or_404(s, db_user(s), campaign_id)
        if campaign.kind != "look_back":
            abort(404)
    back = url_for("campaigns.show", campaign_id=campaign_id) + f"#sample-{hazard_id}"
    outcome = (request.form.get("outcome") or "").strip()
    if outcome not in OUTCOMES:
        flash(_("复查结论：请从列表中选择"), "danger")
        return redirect(back), 303
    try:
        result = LookBacks(svc).reinspect(int(current_user.id), campaign_id, hazard_id, outcome,
                                          note=(request.form.get("note") or "").strip() or None,
                                          deadline=(request.form.get("deadline") or "").strip() or None)
    except AlreadyReinspected:
        flash(_("隐患 #%(id)s 已在本次回头看中复查过，结论不能重复登记，未作任何改动", id=hazard_id), "danger")
        return redirect(back), 303
    except InvalidFormData as exc:
        fields = {d.get("field") for d in exc.errors or []}
        text = _("整改期限须为今天或之后的日期") if "deadline" in fields else error_text(exc)
        flash(_("复查未保存：%(m)s", m=text), "danger")
        return redirect(back), 303
    except RectiflowError as exc:
        flash(_("复查未保存：%(m)s", m=error_text(exc)), "danger")
        return redirect(back), 303
    if result.outcome == "reopened":
        flash(_("隐患 #%(id)s 复查为反弹，已重新进入整改流程（第 %(n)s 次反弹）", id=hazard_id, n=result.repeat_count),
              "warning")
    else:
        flash(_("隐患 #%(id)s 复查为整改到位", id=hazard_id), "success")
    return redirect(back), 303


# -- starting a look-back ----------------------------------------------------------------------------------------
def _look_back_context(s: Session, user: User, org_id: int | None) -> dict:
    orgs = q.organiser_orgs(s, user)
    if not orgs:
        abort(403)
    org = next((o for o in orgs if o.id == org_id), orgs[0])
    # What the sample may be narrowed to: the organiser's own units (or schools) and its recent campaigns.
    units = s.execute(select(OrgNode.id, OrgNode.name).where(OrgNode.parent_id == org.id, OrgNode.active.is_(True))
                      .order_by(OrgNode.name).limit(MAX_FILTER_CHOICES)).all()
    campaigns = s.execute(select(Campaign.id, Campaign.title).where(Campaign.org_id == org.id,
                                                                    Campaign.kind == "campaign")
                          .order_by(Campaign.id.desc()).limit(MAX_FILTER_CHOICES)).all()
    return {"org": org, "orgs": orgs, "choices": forms.template_choices(s, services().bpmn_dir),
            "filter_units": units, "filter_campaigns": campaigns, "filter_sources": HAZARD_SOURCE_LABELS,
            "filter_grades": GRADE_LABELS}


def _look_back_filters(form) -> dict:
    """The sample filters as the form gave them (engine.campaigns.sampling checks them)."""
    units = [int(v) for v in form.getlist("filter_unit_ids") if v.isdigit()]
    campaign = (form.get("filter_campaign_id") or "").strip()
    return {"source": form.getlist("filter_source"), "grade": form.getlist("filter_grade"),
            "closed_from": (form.get("filter_closed_from") or "").strip(),
            "closed_to": (form.get("filter_closed_to") or "").strip(),
            "unit_ids": units, "campaign_id": int(campaign) if campaign.isdigit() else None}


def _render_look_back(context: dict, values: dict, errors: dict, status: int = 200):
    return render_template("campaigns/look_back_new.html", values=values, errors=errors,
                           stage_error=forms.stage_error, phases=PHASE_LABELS, **context), status


def _look_back_defaults(choices: list, today: date) -> dict:
    values = forms.default_values(choices, [], today)
    choice = next((c for c in choices if c.name == LOOK_BACK_TEMPLATE), None)
    if choice is not None:
        values["template"] = choice.value
        values["title"] = _("%(year)s年%(title)s", year=today.year, title=choice.title)
    return {**values, "sample_size": str(DEFAULT_SAMPLE), "seed": "", "filters": _look_back_filters(MultiDict())}


def _look_back_errors(values: dict, choices: list, now, today: date) -> dict:
    errors = forms.create_errors(values, choices, set(), now, today)
    errors.pop("unit_ids", None)  # a look-back's units are the sampled hazards' units
    size = values["sample_size"]
    if not size.isdigit() or not 1 <= int(size) <= MAX_SAMPLE:
        errors["sample_size"] = _("请输入 1 至 %(n)s 之间的整数", n=MAX_SAMPLE)
    if values["seed"] and (not values["seed"].isdigit() or not 1 <= int(values["seed"]) <= MAX_SEED):
        errors["seed"] = _("请输入 1 至 %(n)s 之间的整数", n=MAX_SEED)
    return errors


@bp.route("/campaigns/look-back/new", methods=["GET", "POST"])
@login_required
def new_look_back():
    """Start a 回头看: draw closed hazards at random (the seed is recorded) and re-inspect them."""
    svc = services()
    org_id = request.values.get("org", type=int)
    with svc.uow() as uow:
        s = uow.session
        context = _look_back_context(s, db_user(s), org_id)
        now = svc.clock.now()
        today = q.today_in_china(now)
        if request.method == "GET":
            return _render_look_back(context, _look_back_defaults(context["choices"], today), {})
        values = {**forms.parse_create_form(request.form),
                  **{k: (request.form.get(k) or "").strip() for k in ("sample_size", "seed")},
                  "filters": _look_back_filters(request.form)}
        errors = _look_back_errors(values, context["choices"], now, today)
        if errors:
            return _render_look_back(context, values, errors, 422)
        org_id = context["org"].id
        shipped = next((c.shipped_path for c in context["choices"] if c.value == values["template"]), None)
    try:
        template_id = load_shipped(shipped) if shipped is not None else int(values["template"])
        values["template"] = str(template_id)  # a shipped checklist is loaded now: a re-shown form offers it by id
        campaign = start_look_back(svc, int(current_user.id), values["title"], template_id, org_id,
                                   int(values["sample_size"]), int(values["seed"]) if values["seed"] else None,
                                   forms.engine_stages(values), filters=values["filters"])
    except RectiflowError as exc:
        if isinstance(exc, InvalidFormData) and exc.errors:
            errors = {d.get("field") or "__form__": forms.engine_message(d.get("message", "")) for d in exc.errors}
            if "sample_size" in errors:
                errors["sample_size"] = (_("%(org)s 下没有符合筛选条件的已销号隐患", org=context["org"].name)
                                         if any(values["filters"].values())
                                         else _("%(org)s 下没有已销号的隐患可供抽查", org=context["org"].name))
        else:
            errors = {"__form__": error_text(exc)}
        with svc.uow() as uow:
            return _render_look_back(_look_back_context(uow.session, db_user(uow.session), org_id), values, errors,
                                     422)
    flash(_("回头看“%(title)s”已发起，随机抽取 %(n)s 项已销号隐患（随机种子 %(seed)s）", title=values["title"],
            n=len(campaign.sample or []), seed=campaign.sample_seed), "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id)), 303
