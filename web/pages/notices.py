"""Rectification notices (整改通知书): the printable A4 notice of a hazard, issuing one on demand, the list by year."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from engine.infra.errors import RectiflowError
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.rectification import notices
from engine.rectification.models import Hazard
from web.auth import db_user, services
from web.templating import error_text

bp = Blueprint("notices", __name__)

PER_PAGE = 30


@bp.app_template_filter("cn_date")
def cn_date(value) -> str:
    """A date (or an ISO date string, or a UTC datetime shown in China) as 2026年11月20日 (20 November 2026 in English)."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    elif hasattr(value, "astimezone"):
        value = value.astimezone(CHINA).date()
    if not str(get_locale() or "zh_CN").startswith("zh"):
        return format_date(value, "d MMMM y")  # the English pages: 20 November 2026
    return f"{value.year}年{value.month}月{value.day}日"


def detail_context(s: Session, user: User, hazard: Hazard) -> dict:
    """What the hazard page shows about notices: the notice, or whether this user may issue one now."""
    notice = notices.notice_of(s, hazard.id)
    issuable = (notice is None and hazard.closed_at is None and hazard.grade is not None
                and (hazard.deadline or hazard.plan_deadline) is not None
                and notices.may_issue(user, hazard, s.get(OrgNode, hazard.school_id)))
    return {"notice": notice, "may_issue_notice": issuable}


@bp.route("/hazards/<int:hazard_id>/notice")
@login_required
def show(hazard_id: int):
    """The hazard's rectification notice as an A4 page to print, its current version or `?revision=N` (an earlier
    one, kept as served); 404 out of scope, when it has none or no such revision."""
    with services().uow() as uow:
        s = uow.session
        notice = notices.visible_notice(s, db_user(s), hazard_id)  # NotFound → the 404 page
        if notice is None:
            abort(404)
        versions = notices.notice_versions(s, notice)
        wanted = request.args.get("revision", type=int) or notice.revision
        version = next((v for v in versions if v.revision == wanted), None)
        if version is None:
            abort(404)
        issuer = s.get(User, version.issued_by_id) if version.issued_by_id else None
        return render_template("notices/notice.html", notice=notice, version=version, versions=versions,
                               content=version.content, issuer=issuer)


@bp.route("/hazards/<int:hazard_id>/notice", methods=["POST"])
@login_required
def issue(hazard_id: int):
    """Issue the hazard's notice on demand (security office), then show it."""
    try:
        notices.issue_notice(services(), hazard_id, int(current_user.id), request.form.get("requirements"))
    except RectiflowError as exc:
        flash(_("未能下达整改通知书：%(m)s", m=_issue_error(exc)), "danger")
        return redirect(url_for("hazards.detail", hazard_id=hazard_id)), 303
    flash(_("已下达整改通知书"), "success")
    return redirect(url_for("notices.show", hazard_id=hazard_id)), 303


def _issue_error(exc: RectiflowError) -> str:
    if isinstance(exc, notices.NoticeAlreadyIssued):
        return _("该隐患已下达过整改通知书")
    if isinstance(exc, notices.NoticeNotIssuable):
        return _("隐患尚未登记评估（需有等级、责任单位和整改期限），或已销号")
    return error_text(exc)


@bp.route("/notices")
@login_required
def index():
    """Notices of hazards in the user's scope, newest number first, one year at a time (all years by default)."""
    year = request.args.get("year", type=int)
    page_no = max(request.args.get("page", 1, type=int) or 1, 1)
    with services().uow() as uow:
        s = uow.session
        user = db_user(s)
        page = notices.list_notices(s, user, year=year, page=page_no, per_page=PER_PAGE)
        return render_template("notices/index.html", page=page, year=year, years=notices.notice_years(s, user),
                               pages=max((page.total + PER_PAGE - 1) // PER_PAGE, 1))
