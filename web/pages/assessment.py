"""年度安全考核: the per-unit score sheet (each figure links to its records), submitting it for the leader's
sign-off, accident records, the school's scoring scheme, and per-unit inspection performance; Excel for both."""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from engine.assessment import excel as assessment_excel
from engine.assessment import scheme as schemes
from engine.assessment import service as assessments
from engine.assessment.performance import units_of
from engine.assessment.sheet import figure_records
from engine.assessment.sources import SOURCES
from engine.infra.errors import InvalidFormData, NotAllowed, NotFound, RectiflowError
from engine.infra.timezone import CHINA
from web.auth import db_user, services
from web.templating import error_text

bp = Blueprint("assessment", __name__)
# Where each record type of a sheet links (record → endpoint and its arguments).
RECORD_LINKS = {
    "hazard": lambda r: url_for("hazards.detail", hazard_id=r["id"]),
    "missed_hazard": lambda r: url_for("hazards.detail", hazard_id=r["hazard_id"]),
    "patrol_task": lambda r: url_for("schedules.show", schedule_id=r["schedule_id"]),
    "campaign_unit": lambda r: url_for("campaigns.unit", campaign_id=r["campaign_id"], org_id=r["org_id"]),
    "drill": lambda r: url_for("drills.unit", unit_id=r["unit_id"], semester=r["semester"]),
    "drill_occurrence": lambda r: url_for("schedules.show", schedule_id=r["schedule_id"]),
    "supervision_report": lambda r: url_for("campaigns.show", campaign_id=r["campaign_id"]),
}


@bp.after_request
def _private(response):
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def _today() -> date:
    return services().clock.now().astimezone(CHINA).date()


def _year() -> int:
    year = request.args.get("year", type=int) or _today().year
    if not 2000 <= year <= 2100:
        abort(404)
    return year


def _date(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        abort(400)


def _guarded(call):
    """Run a read; a school outside the user's scope is a 404, a missing role a 403."""
    try:
        return call()
    except NotFound:
        abort(404)
    except NotAllowed:
        abort(403)
    except InvalidFormData:
        abort(400)


def _xlsx(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype=assessment_excel.XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


def _can_manage(s: Session, user, school_id: int) -> bool:
    try:
        assessments.school_for(s, user, school_id, assessments.MANAGER_ROLES)
    except RectiflowError:
        return False
    return True


def _link(record: dict) -> str | None:
    make = RECORD_LINKS.get(record.get("type"))
    return make(record) if make else None


def _read_sheet(s: Session, year: int):
    """(school, assessment or None, sheet) of the requested school and year for the signed-in user."""
    return _guarded(lambda: assessments.read_sheet(s, db_user(s), request.args.get("school", type=int), year,
                                                   services().clock.now()))


@bp.route("/assessment")
@login_required
def index():
    """The year's score sheet: frozen once submitted, a live preview before; submit and accident forms."""
    year = _year()
    with services().uow() as uow:
        s = uow.session
        user = db_user(s)
        school, assessment, sheet = _read_sheet(s, year)
        _, accidents = assessments.accidents_of(s, user, school.id, year)
        return render_template("assessment/index.html", school=school, year=year, assessment=assessment,
                               sheet=sheet, accidents=accidents, units=units_of(s, school),
                               manage=_can_manage(s, user, school.id), today=_today())


@bp.route("/assessment.xlsx")
@login_required
def export():
    """The score sheet (and every record behind it) as Excel."""
    year = _year()
    with services().uow() as uow:
        school, assessment, sheet = _read_sheet(uow.session, year)
    return _xlsx(*assessment_excel.sheet_export(school.name, year, assessment.status if assessment else "preview",
                                                sheet))


@bp.route("/assessment/records")
@login_required
def records():
    """The records behind one figure of the sheet (a unit's item or 一票否决 condition)."""
    year = _year()
    with services().uow() as uow:
        school, _a, sheet = _read_sheet(uow.session, year)
    try:
        unit, entry = figure_records(sheet, request.args.get("unit", type=int), request.args.get("key", ""))
    except (KeyError, StopIteration):
        abort(404)
    rows = [{**r, "href": _link(r)} for r in entry["records"]]
    return render_template("assessment/records.html", school=school, year=year, unit=unit, entry=entry, rows=rows)


@bp.route("/assessment/submit", methods=["POST"])
@login_required
def submit():
    """Compute, freeze and submit the year's sheet to the school leader (security office)."""
    year = request.form.get("year", type=int) or 0
    try:
        assessments.Assessments(services()).submit(int(current_user.id), request.form.get("school", type=int), year)
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
    else:
        flash(_("考核结果已提交校领导审定"), "success")
    return redirect(url_for("assessment.index", year=year or None)), 303


@bp.route("/assessment/accidents", methods=["POST"])
@login_required
def record_accident():
    """Record a safety accident of a unit (security office)."""
    form = request.form
    try:
        accident = assessments.Assessments(services()).record_accident(int(current_user.id), {
            "unit_id": form.get("unit_id", ""), "occurred_on": form.get("occurred_on", ""),
            "description": form.get("description", "")})
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("assessment.index")), 303
    flash(_("事故记录已登记"), "success")
    return redirect(url_for("assessment.index", year=accident.occurred_on.year)), 303


@bp.route("/assessment/scheme", methods=["GET", "POST"])
@login_required
def scheme():
    """The school's scoring scheme; the security office or an admin adjusts weights and the pass mark."""
    svc = services()
    errors: list[dict] = []
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        school = _guarded(lambda: assessments.school_for(s, user, request.values.get("school", type=int)))
        current = schemes.scheme_for(s, school.id)
        manage = _can_manage(s, user, school.id)
    status = 200
    if request.method == "POST":
        if not manage:
            abort(403)
        try:
            weights = {i["key"]: float(request.form.get(f"weight_{i['key']}", i["weight"])) for i in current["items"]}
            pass_mark = float(request.form.get("pass_mark", current["pass_mark"]))
            changed = schemes.with_weights(current, weights, pass_mark)
            assessments.Assessments(svc).save_scheme(int(current_user.id), school.id, changed)
        except ValueError:
            errors, status = [{"field": "weights", "message": "a number"}], 422
        except InvalidFormData as exc:
            errors, status = exc.errors, 422
        else:
            flash(_("评分方案已保存"), "success")
            return redirect(url_for("assessment.scheme")), 303
    return render_template("assessment/scheme.html", school=school, scheme=current, sources=SOURCES,
                           manage=manage, errors=errors, form=request.form), status


def _performance(s: Session):
    svc = services()
    return _guarded(lambda: assessments.read_performance(s, db_user(s), request.args.get("school", type=int),
                                                         _date("start"), _date("end"), svc.clock.now()))


@bp.route("/assessment/performance")
@login_required
def performance():
    """Per unit: patrols and self-checks scheduled, done on time, late, missed, not yet due (排查隐患不到位)."""
    with services().uow() as uow:
        school, start, end, rows = _performance(uow.session)
        return render_template("assessment/performance.html", school=school, start=start, end=end, rows=rows)


@bp.route("/assessment/performance.xlsx")
@login_required
def performance_xlsx():
    """The same table as Excel."""
    with services().uow() as uow:
        school, start, end, rows = _performance(uow.session)
    return _xlsx(*assessment_excel.performance_export(school.name, start, end, services().clock.now(), rows))
