"""The statistics table (隐患问题统计表): live for a scope, period, campaign and moment; a campaign's stored snapshots;
both as Excel in the official layout."""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.infra.timezone import CHINA
from engine.org.models import User
from engine.reports import excel as statistics_excel
from engine.reports import snapshots as statistics_reports
from engine.reports import statistics
from engine.reports.models import StatisticsReport
from web.auth import db_user, services
from web.templating import bad_input, date_arg

bp = Blueprint("statistics", __name__)
FILTER_KEYS = ("org", "campaign", "start", "end", "as_of")


@bp.after_request
def _private(response):
    # Scoped figures: never kept by shared caches.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


DATE_LABELS = {"start": _l("统计期间起"), "end": _l("统计期间止")}


def _date(name: str) -> date | None:
    return date_arg(request.args, name, DATE_LABELS[name])


def _query(s: Session, user: User) -> statistics.Query:
    """The query the request asks for, checked against the user's statistics scope (403 without a role)."""
    try:
        return statistics.resolve_query(
            s, user, services().clock.now(), org_id=request.args.get("org", type=int),
            campaign_id=request.args.get("campaign", type=int), start=_date("start"), end=_date("end"),
            as_of=(request.args.get("as_of") or "").strip() or None)
    except NotAllowed:
        abort(403)
    except NotFound:
        abort(404)
    except InvalidFormData:  # as_of that is neither a date nor a datetime
        raise bad_input(_("“截至日期”不是有效的日期，请按 2026-11-03 的格式填写。")) from None


def _xlsx(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype=statistics_excel.XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _today():
    return services().clock.now().astimezone(CHINA).date()


@bp.route("/statistics")
@login_required
def index():
    """The table for a scope (a unit, a school, a bureau's schools), a period, a campaign and an as-of moment."""
    with services().uow() as uow:
        s = uow.session
        user = db_user(s)
        query = _query(s, user)
        try:
            figures, status = statistics.compute(s, query), 200
        except InvalidFormData:
            figures, status = None, 422  # the period starts after it ends: the page says so
        orgs = statistics.statistics_orgs(s, user)
        org = next(o for o in orgs if o.id == query.org_id)
        campaigns = statistics.campaigns_for(s, org)
        reports, campaign = [], None
        if query.campaign_id is not None:
            try:
                campaign, reports = statistics_reports.list_reports(s, user, query.campaign_id)
            except NotFound:
                campaign = next(c for c in campaigns if c.id == query.campaign_id)  # a unit head: no snapshots
        args = {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}
        return render_template(
            "statistics/index.html", figures=figures, query=query, orgs=orgs, campaigns=campaigns, campaign=campaign,
            reports=reports, args=args, as_of_text=query.as_of.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")), status


@bp.route("/statistics.xlsx")
@login_required
def export():
    """The same table as an Excel file in the official layout."""
    with services().uow() as uow:
        s = uow.session
        user = db_user(s)
        query = _query(s, user)
        try:
            figures = statistics.compute(s, query)
        except InvalidFormData:  # the period starts after it ends
            raise bad_input(_("统计期间的开始日期不能晚于结束日期。")) from None
        data, filename = statistics_excel.export(s, figures, made_on=_today(), reporter=current_user.display_name)
    return _xlsx(data, filename)


def _report(s: Session, report_id: int) -> StatisticsReport:
    try:
        return statistics_reports.get_report(s, db_user(s), report_id)
    except NotFound:
        abort(404)


@bp.route("/statistics/reports/<int:report_id>")
@login_required
def report(report_id: int):
    """A campaign's stored table of one report date, exactly as it was generated."""
    with services().uow() as uow:
        s = uow.session
        snapshot = _report(s, report_id)
        _, reports = statistics_reports.list_reports(s, db_user(s), snapshot.campaign_id)
        return render_template("statistics/report.html", report=snapshot, figures=snapshot.figures, reports=reports,
                               as_of_text=snapshot.as_of.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"))


@bp.route("/statistics/reports/<int:report_id>.xlsx")
@login_required
def report_xlsx(report_id: int):
    """A stored table as Excel."""
    with services().uow() as uow:
        s = uow.session
        snapshot = _report(s, report_id)
        data, filename = statistics_excel.export(s, snapshot.figures, made_on=snapshot.report_date,
                                                 reporter=current_user.display_name)
    return _xlsx(data, filename)


def report_page(s: Session, user: User, report_id: int) -> str | None:
    """The page of a stored table if the user may read it (for the bell's links to `statistics_report`)."""
    try:
        statistics_reports.get_report(s, user, report_id)
    except NotFound:
        return None
    return url_for("statistics.report", report_id=report_id)
