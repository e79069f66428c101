"""Hazards: report one (with photos), its detail page (closed-loop progress, diagram, audit trail), the ledger."""
from __future__ import annotations

from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, NotFound, RectiflowError
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.process.lifecycle import TaskState
from engine.process.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.rectification import inbox as hazard_inbox
from engine.rectification.hazards import HAZARD_PROCESS, report_hazard
from engine.rectification.ledger import COLUMNS as LEDGER_COLUMNS
from engine.rectification.models import Hazard
from engine.rectification.visibility import can_view_hazard
from web.auth import db_user, services
from web.pages import evidence, staged_uploads
from web.pages import ledger as ledger_view
from web.pages import notices as notices_view
from web.pages.forms_render import check_date_error, engine_errors, form_errors, form_fields, parse_form
from web.scope import ledger_orgs
from web.templating import error_text

bp = Blueprint("hazards", __name__)


def _start_schema(s: Session) -> dict | None:
    definition = s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == HAZARD_PROCESS)
                           .order_by(ProcessDefinition.version.desc())).first()
    if definition is None:
        return None
    return definition.forms.get(definition.forms.get("__start__") or "")


def _hazard_for_view(s: Session, user: User, hazard_id: int) -> Hazard:
    hazard = s.get(Hazard, hazard_id)
    if hazard is None or not can_view_hazard(s, user, hazard):
        abort(404)
    return hazard


@bp.route("/hazards/new", methods=["GET", "POST"])
@login_required
def report():
    """Report a hazard: location, checklist item, description, category, photos."""
    svc = services()
    with svc.uow() as uow:
        schema = _start_schema(uow.session)
    if schema is None:
        abort(404)
    today = svc.clock.now().astimezone(CHINA).date().isoformat()
    values: dict = {"source": "self_check", "checked_at": today}
    errors: dict = {}
    status = 200
    files = None
    if request.method == "POST":
        values = parse_form(schema, request.form)
        # Photos are kept for the next try when the report is refused (web/pages/staged_uploads.py).
        files = staged_uploads.collect(svc, ["photos"], request.form, request.files, int(current_user.id))
        errors = {**form_errors(schema, values, now=svc.clock.now()), **files.errors}
        if "checked_at" not in errors and (late := check_date_error(values.get("checked_at"), svc.clock.now())):
            errors["checked_at"] = late
        if not errors:
            try:
                hazard = report_hazard(svc, int(current_user.id), values,
                                       within=evidence.keep_with(svc, int(current_user.id),
                                                                 files.uploads.get("photos", [])))
            except InvalidFormData as exc:
                errors = engine_errors(exc.errors)
            except RectiflowError as exc:
                errors = {"__form__": error_text(exc)}
            else:
                flash(_("隐患已上报，等待保卫处登记评估"), "success")
                return redirect(url_for("hazards.detail", hazard_id=hazard.id)), 303
        status = 422
    return render_template("hazards/report.html", fields=form_fields(schema, values, errors, now=svc.clock.now()),
                           form_error=errors.get("__form__"), upload_limits=evidence.limits(svc),
                           staged_photos=files.staged.get("photos", []) if files else [],
                           photo_error=errors.get("photos")), status


@bp.route("/hazards/<int:hazard_id>")
@login_required
def detail(hazard_id: int):
    """A hazard's closed-loop progress, BPMN diagram with the current step, evidence and audit trail."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        hazard = _hazard_for_view(s, user, hazard_id)
        open_tasks = list(s.scalars(select(HumanTask).where(HumanTask.hazard_id == hazard.id,
                                                            HumanTask.state == TaskState.READY).order_by(HumanTask.id)))
        reporter = s.get(User, hazard.reported_by_id)
        return render_template(
            "hazards/detail.html", hazard=hazard, unit=s.get(OrgNode, hazard.unit_id), reporter=reporter,
            open_tasks=open_tasks, timeline=hazard_inbox.hazard_timeline(s, hazard.id),
            attachments=evidence.list_for(s, user, hazard), comments=evidence.comments_for(s, user, hazard),
            upload_limits=evidence.limits(svc), now=svc.clock.now(), **notices_view.detail_context(s, user, hazard))


@bp.route("/hazards/<int:hazard_id>/diagram")
@login_required
def diagram(hazard_id: int):
    """The hazard's BPMN diagram with the steps that are open now and those already done (JSON for bpmn-js)."""
    with services().uow() as uow:
        s = uow.session
        hazard = _hazard_for_view(s, db_user(s), hazard_id)
        if hazard.instance_id is None:
            abort(404)
        instance = s.get(ProcessInstance, hazard.instance_id)
        tasks = list(s.scalars(select(HumanTask).where(HumanTask.hazard_id == hazard.id)))
        return jsonify(xml=instance.definition.source_xml,
                       active=sorted({t.bpmn_id for t in tasks if t.state == TaskState.READY}),
                       done=sorted({t.bpmn_id for t in tasks if t.state == TaskState.COMPLETED}))


@bp.route("/hazards/<int:hazard_id>/attachments", methods=["POST"])
@login_required
def upload(hazard_id: int):
    """Upload evidence (photos, documents) to a hazard the user may see."""
    with services().uow() as uow:
        _hazard_for_view(uow.session, db_user(uow.session), hazard_id)
    files = [f for f in request.files.getlist("files") if f and f.filename]
    task_id = request.form.get("task_id", type=int)
    if not files:
        flash(_("请选择要上传的文件"), "warning")
    for upload_ in files:
        try:
            evidence.add(services(), int(current_user.id), hazard_id, upload_, task_id=task_id)
        except RectiflowError as exc:
            flash(_("%(f)s 未上传：%(m)s", f=upload_.filename, m=error_text(exc)), "danger")
        else:
            flash(_("%(f)s 已上传", f=upload_.filename), "success")
    return _back(hazard_id)


@bp.route("/hazards/<int:hazard_id>/comments", methods=["POST"])
@login_required
def comment(hazard_id: int):
    """Add a comment to a hazard the user may see."""
    with services().uow() as uow:
        _hazard_for_view(uow.session, db_user(uow.session), hazard_id)
    body = (request.form.get("body") or "").strip()
    if not body:
        flash(_("评论内容不能为空"), "warning")
    else:
        try:
            evidence.add_comment(services(), int(current_user.id), hazard_id, body)
        except RectiflowError as exc:
            flash(error_text(exc), "danger")
    return _back(hazard_id)


def _back(hazard_id: int):
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("hazards.detail", hazard_id=hazard_id)
    return redirect(target), 303


@bp.route("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    """Serve one attachment, only to those who may see its hazard."""
    try:
        item, data = evidence.fetch(services(), int(current_user.id), attachment_id)
    except (NotFound, RectiflowError):
        abort(404)
    inline = (item.content_type or "").startswith("image/") and request.args.get("download") is None
    response = Response(data, mimetype=item.content_type or "application/octet-stream")
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(item.filename)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Uploaded files never run as pages of this site.
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


def _ledger_scope(s):
    """The signed-in user, the units they may see, the unit asked for (if allowed) and the filters."""
    user = db_user(s)
    units = ledger_orgs(s, user)
    unit = ledger_view.chosen_unit(s, user, units, request.args.get("unit", type=int))
    return user, units, unit, ledger_view.filters_from(request.args)


@bp.route("/ledger")
@login_required
def ledger():
    """The unit's hazard ledger (seed 002, attachment 2), filterable."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user, units, unit, filters = _ledger_scope(s)
        page = request.args.get("page", 1, type=int) or 1
        sheet = ledger_view.sheet(svc, s, user, unit, filters, page) if unit else None
        return render_template("hazards/ledger.html", units=units, unit=unit, filters=filters, sheet=sheet,
                               columns=LEDGER_COLUMNS)


@bp.route("/ledger.xlsx")
@login_required
def ledger_xlsx():
    """The same ledger as an Excel file in exactly the seed layout."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user, _units, unit, filters = _ledger_scope(s)
        if unit is None:
            abort(404)
        data, filename = ledger_view.workbook(svc, s, user, unit, filters)
    response = Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
