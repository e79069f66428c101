"""应急演练与安全教育: per unit and semester, drills held / 2, class-hours / 8 and participation; a unit's drill
records with their photos, and its safety-education sessions (recorded here)."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from engine.drills import queries as drill_queries
from engine.drills.service import Drills, can_record_for, visible_drill
from engine.infra.errors import InvalidFormData, NotFound, RectiflowError
from web.auth import db_user, services
from web.pages import evidence
from web.templating import error_text, label

bp = Blueprint("drills", __name__)

EVALUATION_LABELS = {"excellent": _l("优秀"), "good": _l("良好"), "pass": _l("合格"), "fail": _l("不合格")}
FIELD_LABELS = {"held_on": _l("日期"), "topic": _l("主题"), "class_hours": _l("课时"), "participants": _l("参加人数"),
                "notes": _l("备注"), "semester": _l("学期")}


@bp.app_template_filter("drill_evaluation")
def _evaluation(value) -> str:
    return label(EVALUATION_LABELS, value) if value else ""


def _semester_arg() -> str | None:
    value = (request.args.get("semester") or "").strip()
    return value or None


@bp.route("/drills")
@login_required
def index():
    """The units of a school in my scope with their drills and class-hours of one semester."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        schools = drill_queries.visible_schools(s, user)
        try:
            school = drill_queries.school_for(s, user, request.args.get("school_id", type=int))
            semester = drill_queries.semester_of(s, school.id, drill_queries.today(svc.clock), _semester_arg())
        except NotFound:
            abort(404)
        except InvalidFormData as exc:
            flash(error_text(exc), "danger")
            return redirect(url_for("drills.index")), 303
        rows = drill_queries.semester_table(s, user, school, semester)
        return render_template("drills/index.html", rows=rows, school=school, schools=schools, semester=semester)


def _unit_page(unit_id: int, values: dict | None = None, errors: dict | None = None, status: int = 200):
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        try:
            unit, semester, drills, education = drill_queries.unit_semester(
                s, user, unit_id, drill_queries.today(svc.clock), _semester_arg())
        except NotFound:
            abort(404)
        except InvalidFormData as exc:
            flash(error_text(exc), "danger")
            return redirect(url_for("drills.unit", unit_id=unit_id)), 303
        return render_template(
            "drills/unit.html", unit=unit, semester=semester, drills=drills, education=education,
            may_record=can_record_for(s, user, unit), required_drills=drill_queries.REQUIRED_DRILLS,
            required_hours=drill_queries.REQUIRED_HOURS, upload_limits=evidence.limits(svc),
            values=values or {}, errors=errors or {}, field_labels=FIELD_LABELS), status


@bp.route("/drills/units/<int:unit_id>")
@login_required
def unit(unit_id: int):
    """One unit's drills (with photos) and safety-education sessions of a semester."""
    return _unit_page(unit_id)


@bp.route("/drills/units/<int:unit_id>/education", methods=["POST"])
@login_required
def record_education(unit_id: int):
    """Record a safety-education session of the unit; a wrong field shows the form again with what was typed."""
    values = {k: request.form.get(k, "") for k in ("held_on", "topic", "class_hours", "participants", "notes")}
    try:
        Drills(services()).record_education(int(current_user.id), unit_id, values)
    except InvalidFormData as exc:
        errors = {e.get("field") or "__form__": e.get("message") or "" for e in exc.errors or []}
        return _unit_page(unit_id, values, errors, 422)
    except NotFound:
        abort(404)
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("drills.unit", unit_id=unit_id)), 303
    flash(_("安全教育记录已保存"), "success")
    return redirect(url_for("drills.unit", unit_id=unit_id)), 303


@bp.route("/drills/<int:drill_id>/photos", methods=["POST"])
@login_required
def upload_photos(drill_id: int):
    """Add photos to a drill record (each checked like hazard evidence)."""
    svc = services()
    with svc.uow() as uow:
        try:
            unit_id = visible_drill(uow.session, db_user(uow.session), drill_id).unit_id
        except NotFound:
            abort(404)
    added = 0
    for upload in request.files.getlist("files"):
        if not upload or not upload.filename:
            continue
        try:
            Drills(svc).add_photo(int(current_user.id), drill_id, filename=upload.filename,
                                  data=upload.stream.read(evidence.limits(svc)["max_mb"] * 1024 * 1024 + 1))
            added += 1
        except RectiflowError as exc:
            flash(f"{upload.filename}: {error_text(exc)}", "danger")
    if added:
        flash(_("已上传 %(n)s 张照片", n=added), "success")
    return redirect(url_for("drills.unit", unit_id=unit_id)), 303


@bp.route("/drills/photos/<int:photo_id>")
@login_required
def photo(photo_id: int):
    """Serve one drill photo, only to those whose scope covers its unit."""
    try:
        item, data = Drills(services()).photo(int(current_user.id), photo_id)
    except RectiflowError:
        abort(404)
    inline = (item.content_type or "").startswith("image/") and request.args.get("download") is None
    response = Response(data, mimetype=item.content_type or "application/octet-stream")
    response.headers["Content-Disposition"] = (f"{'inline' if inline else 'attachment'}; "
                                               f"filename*=UTF-8''{quote(item.filename)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
