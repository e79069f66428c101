"""Campaign pages (专项整治): the list, starting one from a checklist, its dashboard, and a unit's checklist."""
from __future__ import annotations

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns import checklists, coverage, supervision
from engine.campaigns import dashboard as q
from engine.campaigns import queries as cq
from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import CampaignUnit, ChecklistTemplate
from engine.campaigns.phase import process_phase
from engine.campaigns.self_check_report import self_check_report
from engine.campaigns.service import Campaigns, campaign_stage_keys
from engine.infra.errors import InvalidFormData, NotFound, RectiflowError
from engine.org.models import OrgNode, User
from engine.process.models import ProcessInstance
from engine.rectification import visibility
from web import self_check_pdf
from web.auth import db_user, services
from web.pages import campaign_findings as campaign_findings_view
from web.pages import campaign_forms as forms
from web.pages.campaign_common import (
    PHASE_LABELS,
    bp,
    campaign_or_404,
    hazard_categories,
    hazard_schema,
    load_shipped,
)
from web.templating import RESULT_LABELS, error_text, label

PER_PAGE = 20
UNITS_PER_PAGE = 50
HAZARDS_PER_PAGE = 20
UNIT_STATUS_LABELS = {"pending": _l("待上报"), "signed": _l("已签字上报"), "sent_back": _l("已退回补充"),
                      "returned": _l("审核通过")}
CAMPAIGN_STATUS_LABELS = {"running": _l("进行中"), "closed": _l("已结束")}
UNIT_FILTERS = ("incomplete", *q.UNIT_STATUSES)
FINDING_TASKS = ("joint_inspection", "supervision_check")
WAITING_STEPS = {"not_started": "self_check_opens", "rectification": "rectification_wait"}  # with no task open


@bp.app_template_filter("phase")
def _phase_label(value: str) -> str:
    return label(PHASE_LABELS, value)


@bp.app_template_filter("unit_status")
def _unit_status_label(value: str) -> str:
    return label(UNIT_STATUS_LABELS, value)


@bp.app_template_filter("item_result")
def _result_label(value: str) -> str:
    return label(RESULT_LABELS, value)


@bp.app_template_global("campaign_link")
def campaign_link(task) -> dict | None:
    """For a task of a campaign or of a unit's self-check: where its checklist or dashboard is (task page button)."""
    target = cq.parse_business_key(task.instance.business_key if task.instance else None)
    if target is None:
        return None
    campaign_id, unit_id = target
    if unit_id is None:
        link = {"url": url_for("campaigns.show", campaign_id=campaign_id), "label": _("专项整治看板")}
        if task.bpmn_id in FINDING_TASKS:  # the inspection tasks: record what they find from the task page
            link["finding_url"] = url_for("campaigns.new_finding", campaign_id=campaign_id)
        return link
    return {"url": url_for("campaigns.unit", campaign_id=campaign_id, org_id=unit_id), "label": _("打开本单位自查清单")}


@bp.app_template_global("page_url")
def page_url(arg: str, number: int) -> str:
    """This page's address with one page parameter changed and every other argument kept."""
    args = {k: v for k, v in request.args.items() if k != arg}
    return url_for(request.endpoint, **(request.view_args or {}), **args, **{arg: max(1, number)})


def _page_arg(name: str = "page") -> int:
    return max(1, request.args.get(name, 1, type=int) or 1)


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


@bp.route("/campaigns")
@login_required
def index():
    """The campaigns in the user's scope, newest first, with phase, coverage and open hazards."""
    svc = services()
    status = request.args.get("status") if request.args.get("status") in CAMPAIGN_STATUS_LABELS else None
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        page = q.list_campaigns(s, user, _page_arg(), PER_PAGE, status)
        return render_template("campaigns/index.html", page=page, pages=_pages(page.total, PER_PAGE), status=status,
                               statuses=CAMPAIGN_STATUS_LABELS, can_create=bool(q.organiser_orgs(s, user)),
                               today=q.today_in_china(svc.clock.now()))


# -- starting a campaign ---------------------------------------------------------------------------------------
def _new_context(s: Session, user: User, org_id: int | None) -> dict:
    orgs = q.organiser_orgs(s, user)
    if not orgs:
        abort(403)
    org = next((o for o in orgs if o.id == org_id), orgs[0])
    return {"org": org, "orgs": orgs, "units": q.unit_choices(s, org),
            "choices": forms.template_choices(s, services().bpmn_dir)}


def _render_new(context: dict, values: dict, errors: dict, status: int = 200):
    return render_template("campaigns/new.html", values=values, errors=errors, stage_error=forms.stage_error,
                           phases=PHASE_LABELS, **context), status


@bp.route("/campaigns/new", methods=["GET", "POST"])
@login_required
def new():
    """Start a campaign: title, checklist, units, stage windows and report dates, all proposed up front."""
    svc = services()
    org_id = request.values.get("org", type=int)
    with svc.uow() as uow:
        s = uow.session
        context = _new_context(s, db_user(s), org_id)
        now = svc.clock.now()
        today = q.today_in_china(now)
        if request.method == "GET":
            return _render_new(context, forms.default_values(context["choices"], context["units"], today), {})
        values = forms.parse_create_form(request.form)
        errors = forms.create_errors(values, context["choices"], {u.id for u in context["units"]}, now, today)
        if errors:
            return _render_new(context, values, errors, 422)
        org_id, org_kind = context["org"].id, context["org"].kind
        shipped = next((c.shipped_path for c in context["choices"] if c.value == values["template"]), None)
    try:
        if shipped is not None:
            values["template"] = str(load_shipped(shipped))
        campaign = Campaigns(svc).create_campaign(int(current_user.id), values["title"], int(values["template"]),
                                                  values["unit_ids"], forms.engine_stages(values), org_id=org_id,
                                                  whole_schools=values["whole_schools"] and org_kind != "school",
                                                  stage_list=values["chosen"],
                                                  supervised_by=values["supervised_by"] if org_kind == "school"
                                                  else "bureau")
    except RectiflowError as exc:
        errors = ({d.get("field") or "__form__": forms.engine_message(d.get("message", "")) for d in exc.errors}
                  if isinstance(exc, InvalidFormData) and exc.errors else {"__form__": error_text(exc)})
        with svc.uow() as uow:
            return _render_new(_new_context(uow.session, db_user(uow.session), org_id), values, errors, 422)
    flash(_("专项整治“%(title)s”已发起，各单位的自查任务已下发", title=values["title"]), "success")
    with svc.uow() as uow:
        gaps = len(coverage.uncovered_items(uow.session, campaign.id))
    if gaps:
        flash(_("注意：清单中有 %(n)s 项检查内容没有落到任何参加单位（未做到全覆盖），详见下方列表", n=gaps), "warning")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id)), 303


@bp.route("/campaigns/templates/<int:template_id>")
@login_required
def template(template_id: int):
    """A checklist template in attachment 1 layout (督查项目, 序号, 督查内容, 督查方法, 责任部门)."""
    with services().uow() as uow:
        tpl = uow.session.get(ChecklistTemplate, template_id) or abort(404)
        name = forms.SHIPPED_TITLES.get(tpl.name, (tpl.name,))[0]
        rows = [(i.category, i.serial, i.content, i.methods, i.units, i.lead_unit) for i in tpl.items]
    return render_template("campaigns/template.html", name=name, source=tpl.source, rows=rows)


@bp.route("/campaigns/templates/shipped/<stem>")
@login_required
def shipped_template(stem: str):
    """A shipped checklist not loaded yet, read from its file."""
    path = next((p for p in checklists.shipped_checklists(services().bpmn_dir) if p.stem == stem), None)
    if path is None:
        abort(404)
    items = checklists.parse_rows(checklists.read_rows(path.read_bytes(), path.name))
    rows = [(i.category, i.serial, i.content, i.methods, i.units, i.lead_unit) for i in items]
    return render_template("campaigns/template.html", name=forms.SHIPPED_TITLES.get(stem, (stem,))[0],
                           source=path.name, rows=rows)


# -- the dashboard ---------------------------------------------------------------------------------------------
@bp.route("/campaigns/<int:campaign_id>")
@login_required
def show(campaign_id: int):
    """A campaign's stages, per-unit progress, coverage, hazards and 应发现未发现 records."""
    svc = services()
    ustatus = request.args.get("ustatus") if request.args.get("ustatus") in UNIT_FILTERS else None
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        campaign, scope = campaign_or_404(s, user, campaign_id)
        org = s.get(OrgNode, campaign.org_id)
        grants = q.grant_paths(s, user)
        full = scope.covers(org.path)
        phase, open_tasks, _done = process_phase(s, campaign)
        units = coverage.unit_coverage(s, campaign.id)
        if not full:
            mine = q.visible_unit_ids(s, campaign.id, scope)
            units = [u for u in units if u.org_id in mine]
        if ustatus == "incomplete":
            units = [u for u in units if u.answered < u.required]
        elif ustatus:
            units = [u for u in units if u.status == ustatus]
        upage = min(_page_arg("upage"), _pages(len(units), UNITS_PER_PAGE))
        shown = units[(upage - 1) * UNITS_PER_PAGE: upage * UNITS_PER_PAGE]
        details = q.unit_details(s, campaign.id, [u.org_id for u in shown])
        paths = dict(s.execute(select(OrgNode.id, OrgNode.path).where(
            OrgNode.id.in_([u.org_id for u in shown]))).all()) if shown else {}
        openable = {u.org_id for u in shown if u.org_id in paths and q.may_open_unit(grants, paths[u.org_id])}
        hazards = visibility.list_hazards(s, user, {"campaign_id": campaign.id}, page=_page_arg("hpage"),
                                          per_page=HAZARDS_PER_PAGE)
        missed = {kind: cq.missed_records(s, scope, campaign.id, side).items
                  for kind, side in (("found", "found"), ("against", "missed"))}
        template_name = forms.SHIPPED_TITLES.get(campaign.template.name, (campaign.template.name,))[0]
        return render_template(
            "campaigns/show.html", campaign=campaign, org=org, phase=phase, windows=q.stage_states(campaign, phase),
            open_tasks=open_tasks, figures=coverage.campaign_coverage(s, campaign.id), units=shown,
            uncovered=coverage.uncovered_items(s, campaign.id) if full else [],
            unit_total=len(units), upage=upage, upages=_pages(len(units), UNITS_PER_PAGE), ustatus=ustatus,
            unit_filters=UNIT_FILTERS, details=details, openable=openable, hazards=hazards,
            hpages=_pages(hazards.total, HAZARDS_PER_PAGE), missed=missed, template_name=template_name,
            report_dates=(campaign.stages or {}).get("report_dates") or [],
            stage_keys=campaign_stage_keys(campaign.stages),
            supervision_reports=_visible_reports(s, campaign.id, scope, full),
            today=q.today_in_china(svc.clock.now()), now=svc.clock.now(),
            **campaign_findings_view.dashboard_extras(s, user, campaign))


def _visible_reports(s: Session, campaign_id: int, scope, full: bool) -> list:
    """The campaign's 督查报告 about units in the user's scope (all of them for whoever sees the whole campaign)."""
    reports = supervision.campaign_reports(s, campaign_id)
    if full or not reports:
        return reports
    mine = q.visible_unit_ids(s, campaign_id, scope)
    return [r for r in reports if r[0].unit_id in mine]


@bp.route("/campaigns/<int:campaign_id>/diagram")
@login_required
def diagram(campaign_id: int):
    """The campaign process's diagram with its open and completed steps (JSON for bpmn-js)."""
    with services().uow() as uow:
        s = uow.session
        campaign, _scope = campaign_or_404(s, db_user(s), campaign_id)
        instance = s.get(ProcessInstance, campaign.instance_id) if campaign.instance_id else None
        if instance is None:
            abort(404)
        phase, open_tasks, done = process_phase(s, campaign)
        active = {t.bpmn_id for t in open_tasks}
        if not active and campaign.status != "closed":
            # Waiting on a timer or on messages rather than on a person: show the step it waits in.
            active = {WAITING_STEPS.get(phase, "collect_returns")}
        return jsonify(xml=instance.definition.source_xml, active=sorted(active), done=sorted(done))


# -- a unit's checklist ----------------------------------------------------------------------------------------
def _openable_unit(s: Session, user: User, campaign_id: int, org_id: int) -> CampaignUnit:
    """The unit's row if the user may open it (its own people, the organisers above), else the 404 page."""
    try:
        return q.openable_unit(s, user, campaign_id, org_id)
    except NotFound:
        abort(404)


def _unit_context(s: Session, user: User, campaign_id: int, org_id: int) -> dict:
    cu = _openable_unit(s, user, campaign_id, org_id)
    campaign = cu.campaign
    schema = hazard_schema(s)
    answers = cq.unit_results(s, cu.id)
    return {"campaign": campaign, "cu": cu, "unit": cu.org, "items": items_for_unit(campaign.template, cu.org),
            "answers": answers, "existing": {k: [r for r, _n in v] for k, v in answers.items()}, "schema": schema,
            "categories": hazard_categories(schema),
            "editable": cu.status not in ("signed", "returned")}


def _render_unit(s: Session, ctx: dict, typed: dict | None = None, errors: dict | None = None, status: int = 200):
    items = ctx["items"]
    groups: list[tuple[str, list]] = []
    for item in items:
        if not groups or groups[-1][0] != item.category:
            groups.append((item.category, []))
        groups[-1][1].append(item)
    hazard_ids = {r.hazard_id for rows in ctx["existing"].values() for r in rows if r.hazard_id}
    answered = sum(1 for i in items if ctx["existing"].get(i.id))
    return render_template(
        "campaigns/unit.html", groups=groups, answered=answered, required=len(items),
        drawn=forms.drawn_answers(items, ctx["existing"], ctx["categories"], typed), errors=errors or {},
        form_error=(errors or {}).get("__form__"), hazards=q.hazard_states(s, hazard_ids),
        tasks=cq.unit_tasks(s, ctx["campaign"].id, ctx["unit"].id), results=RESULT_LABELS,
        signer=s.get(User, ctx["cu"].signed_by_id) if ctx["cu"].signed_by_id else None, **ctx), status


@bp.route("/campaigns/<int:campaign_id>/units/<int:org_id>", methods=["GET", "POST"])
@login_required
def unit(campaign_id: int, org_id: int):
    """The checklist one unit works through: 已检查无问题 / 不适用 / 发现隐患 per item, saved in one call."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        ctx = _unit_context(s, db_user(s), campaign_id, org_id)
        if request.method == "GET":
            return _render_unit(s, ctx)
        here = url_for("campaigns.unit", campaign_id=campaign_id, org_id=org_id)
        if not ctx["editable"]:
            flash(_("本单位自查报告已签字上报，如需修改请联系保卫处退回"), "warning")
            return redirect(here), 303
        typed = forms.parse_answers(request.form, ctx["items"])
        rows, errors = forms.answer_rows(typed, ctx["items"], ctx["existing"], ctx["schema"],
                                         svc.clock.now())
        if errors:
            errors["__form__"] = _("有 %(n)s 处填写有误，请按提示修改后再保存", n=len(errors))
            return _render_unit(s, ctx, typed, errors, 422)
    if not rows:
        flash(_("没有新的填报内容"), "info")
        return redirect(here), 303
    try:
        Campaigns(svc).record_item_results(int(current_user.id), campaign_id, org_id, rows)
    except InvalidFormData as exc:
        with svc.uow() as uow:
            ctx = _unit_context(uow.session, db_user(uow.session), campaign_id, org_id)
            return _render_unit(uow.session, ctx, typed, {"__form__": error_text(exc)}, 422)
    except RectiflowError as exc:
        flash(_("保存未成功：%(m)s", m=error_text(exc)), "danger")
        return redirect(here), 303
    found = sum(1 for r in rows if r["result"] == "hazard")
    flash(_("已保存 %(n)s 项", n=len(rows)) + (_("，发现的 %(m)s 项隐患已进入整改流程", m=found) if found else ""),
          "success")
    return redirect(here), 303


# -- a unit's self-check report --------------------------------------------------------------------------------
def _unit_report(campaign_id: int, org_id: int):
    """The unit's report, read in one unit of work for whoever may open the unit (else the 404 page)."""
    with services().uow() as uow:
        s = uow.session
        return self_check_report(s, _openable_unit(s, db_user(s), campaign_id, org_id))


@bp.route("/campaigns/<int:campaign_id>/units/<int:org_id>/report")
@login_required
def unit_report(campaign_id: int, org_id: int):
    """The unit's 自查报告 as an A4 page to print, sign and seal (seed 002: 纸质版经主要领导签字)."""
    return render_template("campaigns/report.html", report=_unit_report(campaign_id, org_id))


@bp.route("/campaigns/<int:campaign_id>/units/<int:org_id>/report.pdf")
@login_required
def unit_report_pdf(campaign_id: int, org_id: int):
    """The same 自查报告 as a PDF download."""
    return self_check_pdf.pdf_response(_unit_report(campaign_id, org_id))
