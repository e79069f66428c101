"""发起流程: the process catalogue and start forms; instance lists and the instance page (diagram, history); cancel."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound, RectiflowError
from engine.process import instance_views
from engine.process.lifecycle import InstanceState
from web.auth import db_user, services
from web.pages.forms_render import engine_errors, form_errors, form_fields, parse_form
from web.templating import error_text

bp = Blueprint("processes", __name__)
PER_PAGE = 25


@bp.route("/processes")
@login_required
def catalogue():
    """Every latest deployed process the signed-in user may start."""
    with services().uow() as uow:
        s = uow.session
        entries = instance_views.catalogue(s, db_user(s), services().hooks)
        return render_template("processes/catalogue.html", entries=entries)


def _render_start(entry, values: dict | None = None, errors: dict | None = None, business_key: str = "",
                  status: int = 200):
    fields = form_fields(entry.start_form, values, errors, now=services().clock.now())
    return render_template("processes/start.html", definition=entry.definition, fields=fields,
                           business_key=business_key, form_error=(errors or {}).get("__form__"),
                           business_key_error=(errors or {}).get("business_key")), status


@bp.route("/processes/<key>/start", methods=["GET", "POST"])
@login_required
def start(key: str):
    """The start form of one process; a valid submit starts it and opens the new instance's page."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        try:
            entry = instance_views.startable(s, db_user(s), key, svc.hooks)
        except NotFound:
            abort(404)
        except InvalidFormData:  # a subject-owned process: it starts through its own page
            flash(_("该流程由其业务页面发起，不在发起流程中：%(where)s", where=svc.hooks.subject_owned(key)), "danger")
            return redirect(url_for("processes.catalogue"), 303)
        if request.method == "GET":
            return _render_start(entry)
        data = parse_form(entry.start_form, request.form)
        business_key = (request.form.get("business_key") or "").strip()
        errors = form_errors(entry.start_form, data, now=svc.clock.now())
        if errors:
            return _render_start(entry, data, errors, business_key, 422)
    try:
        instance = svc.start_process(key, int(current_user.id), data, business_key or None)
    except RectiflowError as exc:
        # Everything typed stays in the form; the engine's message goes to the field it names, else on top.
        errors = engine_errors(exc.errors) if isinstance(exc, InvalidFormData) else {"__form__": error_text(exc)}
        with svc.uow() as uow:
            entry = instance_views.startable(uow.session, db_user(uow.session), key, svc.hooks)
            return _render_start(entry, data, errors, business_key, 403 if isinstance(exc, NotAllowed) else 422)
    flash(_("流程已发起"), "success")
    return redirect(url_for("processes.instance", instance_id=instance.id), 303)


@bp.route("/processes/<key>/instances")
@login_required
def instances(key: str):
    """The instances of one process the user may see, newest first, keyset paged (`after`)."""
    svc = services()
    status = request.args.get("status") or None
    if status and status not in {s.value for s in InstanceState}:
        abort(404)
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        page = instance_views.list_instances(s, user, key=key, definition_id=request.args.get("definition", type=int),
                                             status=status, after=request.args.get("after", type=int),
                                             limit=PER_PAGE, hooks=svc.hooks)
        versions = [d for d in instance_views.latest_definitions(s) if d.key == key]
        if not versions:
            abort(404)
        return render_template("processes/instances.html", key=key, definition=versions[0], page=page,
                               status=status, first=not request.args.get("after"))


@bp.route("/instances/<int:instance_id>")
@login_required
def instance(instance_id: int):
    """One instance: diagram with active and completed nodes, open tasks, history, variables, incidents."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        try:
            detail = instance_views.instance_detail(s, svc.runtime, db_user(s), instance_id, svc.hooks)
        except NotFound:
            abort(404)
        return render_template("processes/instance.html", d=detail)


@bp.route("/instances/<int:instance_id>/diagram")
@login_required
def diagram(instance_id: int):
    """The instance's diagram and its active and completed nodes (JSON for bpmn-js, web/static/js/diagram.js)."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        try:
            detail = instance_views.instance_detail(s, svc.runtime, db_user(s), instance_id)
        except NotFound:
            abort(404)
        return jsonify(xml=detail.definition.source_xml, active=detail.active, done=detail.done)


@bp.route("/instances/<int:instance_id>/cancel", methods=["POST"])
@login_required
def cancel(instance_id: int):
    """Cancel a running instance with a reason (administrators)."""
    svc = services()
    with svc.uow() as uow:
        try:
            instance_views.get_visible_instance(uow.session, db_user(uow.session), instance_id)
        except NotFound:
            abort(404)
    reason = (request.form.get("reason") or "").strip()
    try:
        svc.cancel_instance(instance_id, int(current_user.id), reason)
    except RectiflowError as exc:
        flash(_("取消未成功：%(m)s", m=error_text(exc)), "danger")
    else:
        flash(_("流程已取消"), "success")
    return redirect(url_for("processes.instance", instance_id=instance_id), 303)
