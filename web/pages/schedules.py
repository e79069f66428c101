"""Recurring inspections (巡查计划): schedules with their next run and recent occurrences; create, pause, resume."""
from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
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

from engine.campaigns.models import ChecklistTemplate
from engine.infra.errors import InvalidFormData, RectiflowError
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.schedules import queries as schedule_queries
from engine.schedules.models import CADENCES, SCHEDULE_KINDS
from engine.schedules.rules import DEFAULT_WINDOWS, SCHOOL_LEVEL_ROLES
from engine.schedules.service import Schedules, can_manage, patrol_roles
from web.auth import db_user, services
from web.scope import units_of_school
from web.templating import error_text, label

bp = Blueprint("schedules", __name__)

PER_PAGE = 30
CADENCE_LABELS = {"daily": _l("每天"), "weekly": _l("每周"), "monthly": _l("每月"), "quarterly": _l("每季度"),
                  "semester": _l("每学期")}
KIND_LABELS = {"patrol": _l("巡查任务"), "campaign": _l("专项排查（清单）"), "drill": _l("应急演练")}
STATE_LABELS = {"open": _l("进行中"), "done": _l("已完成"), "overdue": _l("已逾期"), "missed": _l("漏检"),
                "failed": _l("未能启动")}
STATE_STYLES = {"open": "text-bg-primary", "done": "text-bg-success", "overdue": "text-bg-danger",
                "missed": "text-bg-warning", "failed": "text-bg-dark"}
WEEKDAY_LABELS = [_l("周一"), _l("周二"), _l("周三"), _l("周四"), _l("周五"), _l("周六"), _l("周日")]
FIELD_LABELS = {"title": _l("名称"), "cadence": _l("频次"), "weekday": _l("星期"), "day": _l("日期"),
                "kind": _l("方式"), "window": _l("完成时限"), "template_id": _l("检查清单"),
                "target": _l("巡查对象"), "starts_on": _l("开始日期")}


@bp.app_template_filter("cadence")
def _cadence(value: str) -> str:
    return label(CADENCE_LABELS, value)


@bp.app_template_filter("occurrence_state")
def _state(value: str) -> str:
    return label(STATE_LABELS, value)


def _managed_school(s: Session, user: User) -> OrgNode | None:
    """The school whose schedules this user may set up (their own school, as its security office)."""
    school = accounts.nearest(s, user.org, "school")
    return school if can_manage(user, school) else None


def _form_data(form, school: OrgNode) -> dict:
    """Schedule data from the page's form (units ticked, each with its sites)."""
    role = form.get("role") or "department_staff"
    units = [{"org_id": int(v), "sites": form.get(f"sites_{v}", "")} for v in form.getlist("unit") if v.isdigit()]
    return {"school_id": school.id, "title": form.get("title", ""), "cadence": form.get("cadence"),
            "weekday": form.get("weekday") or None, "day": form.get("day") or None, "kind": form.get("kind"),
            "window": form.get("window") or None, "template_id": form.get("template_id") or None,
            "starts_on": form.get("starts_on") or None,
            "target": {"role": role, "all_units": form.get("all_units") == "on", "units": units,
                       "sites": form.get("school_sites", "")}}


def _errors(exc: InvalidFormData) -> dict[str, str]:
    """Field errors by the form's top-level field (target.units.0.org_id → target)."""
    errors: dict[str, str] = {}
    for detail in exc.errors or []:
        key = (detail.get("field") or "").split(".")[0] or "__form__"
        errors.setdefault(key, detail.get("message") or "")
    return errors


def _render(s: Session, user: User, values: dict | None = None, errors: dict | None = None, status: int = 200):
    svc = services()
    now = svc.clock.now()
    rows = schedule_queries.visible_schedules(s, user)
    recent = schedule_queries.recent_occurrences(s, [r.id for r in rows], now)
    org_ids = {r.org_id for r in rows} | {int(u["org_id"]) for r in rows for u in (r.target or {}).get("units", [])}
    org_names = {o.id: o.name for o in s.scalars(select(OrgNode).where(OrgNode.id.in_(org_ids)))}
    school = _managed_school(s, user)
    manageable = {r.id for r in rows if can_manage(user, s.get(OrgNode, r.org_id))}
    templates = list(s.scalars(select(ChecklistTemplate).order_by(ChecklistTemplate.id))) if school else []
    roles = sorted(patrol_roles(s))
    return render_template(
        "schedules/index.html", rows=rows, recent=recent, org_names=org_names, school=school, manageable=manageable,
        units=units_of_school(s, school.id) if school else [], templates=templates, roles=roles,
        school_level_roles=SCHOOL_LEVEL_ROLES, cadences=CADENCES, kinds=SCHEDULE_KINDS, kind_labels=KIND_LABELS,
        weekdays=WEEKDAY_LABELS, default_windows=DEFAULT_WINDOWS, state_styles=STATE_STYLES,
        values=values or {}, errors=errors or {}, field_labels=FIELD_LABELS, now=now,
        campaign_pages="campaigns.show" in current_app.view_functions), status


@bp.route("/schedules")
@login_required
def index():
    """The schedules of the schools in my scope, with next runs and recent occurrences; the create form."""
    with services().uow() as uow:
        return _render(uow.session, db_user(uow.session))


@bp.route("/schedules", methods=["POST"])
@login_required
def create():
    """Add a schedule for my school (security office)."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        school = _managed_school(s, user)
        if school is None:
            flash(_("只有保卫处可以制定巡查计划"), "danger")
            return redirect(url_for("schedules.index")), 303
        data = _form_data(request.form, school)
    try:
        schedule = Schedules(svc).create_schedule(int(current_user.id), data)
    except InvalidFormData as exc:
        with svc.uow() as uow:
            return _render(uow.session, db_user(uow.session), request.form.to_dict(flat=True) | {
                "unit": request.form.getlist("unit")}, _errors(exc), 422)
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("schedules.index")), 303
    flash(_("巡查计划“%(title)s”已建立", title=schedule.title), "success")
    return redirect(url_for("schedules.index")), 303


def _set_active(schedule_id: int, active: bool):
    try:
        Schedules(services()).set_active(int(current_user.id), schedule_id, active)
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("schedules.index")), 303
    flash(_("已恢复，将从本期开始") if active else _("已暂停，暂停期间不再启动巡查"), "success")
    return redirect(url_for("schedules.index")), 303


@bp.route("/schedules/<int:schedule_id>/pause", methods=["POST"])
@login_required
def pause(schedule_id: int):
    """Pause a schedule: no occurrences start, none are recorded missed."""
    return _set_active(schedule_id, False)


@bp.route("/schedules/<int:schedule_id>/resume", methods=["POST"])
@login_required
def resume(schedule_id: int):
    """Resume a schedule from the current period."""
    return _set_active(schedule_id, True)


@bp.route("/schedules/<int:schedule_id>")
@login_required
def show(schedule_id: int):
    """One schedule's occurrences, newest period first."""
    svc = services()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        schedule = schedule_queries.get_visible_schedule(s, user, schedule_id)
        items, total = schedule_queries.occurrences(s, schedule_id, svc.clock.now(), page, PER_PAGE)
        org_ids = {schedule.org_id} | {int(u["org_id"]) for u in (schedule.target or {}).get("units", [])}
        org_names = {o.id: o.name for o in s.scalars(select(OrgNode).where(OrgNode.id.in_(org_ids)))}
        return render_template("schedules/show.html", r=schedule, items=items, total=total, page=page,
                               pages=max(1, -(-total // PER_PAGE)), state_styles=STATE_STYLES,
                               org_names=org_names, kind_labels=KIND_LABELS, weekdays=WEEKDAY_LABELS,
                               campaign_pages="campaigns.show" in current_app.view_functions)
