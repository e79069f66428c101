"""The task page: the hazard, its evidence and history, and the current step's form; claim, delegate, complete."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.campaigns import situation_reports as reports
from engine.infra.errors import (
    InvalidFormData,
    NotAllowed,
    RectiflowError,
    WorkflowFailed,
)
from engine.org.models import OrgNode, RoleGrant, User
from engine.process import escalation, tasklist
from engine.process.forms import evidence_fields, with_context
from engine.process.instructions import instructions_for
from engine.process.lifecycle import TaskState, can_act_on_task
from engine.process.models import HumanTask
from engine.rectification import inbox as hazard_inbox
from engine.rectification.visibility import can_view_task, task_row
from web.auth import db_user, services
from web.pages import evidence, staged_uploads
from web.pages.forms_render import engine_errors, form_errors, form_fields, parse_form
from web.scope import units_of_school
from web.templating import error_text, translate

bp = Blueprint("tasks", __name__)


def _task_for_view(s: Session, user: User, task_id: int) -> HumanTask:
    task = s.get(HumanTask, task_id)
    # Another unit's task answers exactly like a task that does not exist: ids reveal nothing.
    if task is None or not can_view_task(s, user, task):
        abort(404)
    return task


def _colleagues(s: Session, task: HumanTask, user: User) -> list[User]:
    """Who else holds the role this task needs, at the task's organisation."""
    if task.candidate_role is None:
        return []
    return list(s.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.role == task.candidate_role, RoleGrant.org_id == task.candidate_org_id,
               User.active.is_(True), User.id != user.id)
        .order_by(User.display_name)
    ))


def render_task(s: Session, user: User, task: HumanTask, values: dict | None = None, errors: dict | None = None,
                status: int = 200):
    """Draw the task page (also after a failed submit, with the input kept and errors at the fields)."""
    svc = services()
    hazard = task.hazard
    definition = task.instance.definition
    schema = definition.forms.get(task.form) if task.form else None
    units = units_of_school(s, hazard.school_id) if hazard else []
    prefill = _prefill(hazard, schema)
    fields = form_fields(schema, with_context(schema or {}, values, prefill) if values is not None else prefill, errors,
                         units, now=svc.clock.now())
    can_act = can_act_on_task(user, task)
    timeline = hazard_inbox.hazard_timeline(s, hazard.id) if hazard else []
    unit = s.get(OrgNode, hazard.unit_id) if hazard else None
    other_tasks = list(s.scalars(select(HumanTask).where(
        HumanTask.hazard_id == task.hazard_id, HumanTask.state == TaskState.READY, HumanTask.id != task.id))) if hazard else []
    return render_template(
        "tasks/task.html", task=task, hazard=hazard, unit=unit, schema=schema, fields=fields,
        form_error=(errors or {}).get("__form__"), can_act=can_act,
        can_claim=can_act and task.assignee_id is None, is_mine=task.assignee_id == user.id and task.state == TaskState.READY,
        colleagues=_colleagues(s, task, user) if can_act else [], timeline=timeline,
        attachments=evidence.list_for(s, user, hazard) if hazard else [],
        comments=evidence.comments_for(s, user, hazard) if hazard else [],
        other_tasks=other_tasks, now=svc.clock.now(), upload_limits=evidence.limits(svc),
        situation_reports=reports.reports_for_task(s, task),
        # instructionsForEndUser: Markdown rendered with raw HTML disabled, so the markup is safe to show as is
        instructions=Markup(instructions_for(svc.runtime, task)) if task.state == TaskState.READY else "",
    ), status


def _prefill(hazard, schema: dict | None) -> dict:
    """Start a form from what the hazard already records (a plan is usually refined, not retyped)."""
    if hazard is None or not schema:
        return {}
    values = {}
    for name in (schema.get("properties") or {}):
        if name == "responsible_unit_id":
            values[name] = hazard.unit_id
        elif hasattr(hazard, name) and getattr(hazard, name) not in (None, ""):
            value = getattr(hazard, name)
            values[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return values


@bp.route("/tasks/<int:task_id>")
@login_required
def show(task_id: int):
    """The task page."""
    with services().uow() as uow:
        user = db_user(uow.session)
        task = _task_for_view(uow.session, user, task_id)
        return render_task(uow.session, user, task)


@bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@login_required
def complete(task_id: int):
    """Validate the submitted form at the fields, then complete the task in one service call."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        task = _task_for_view(s, user, task_id)
        if not can_act_on_task(user, task):
            abort(403)
        schema = task.instance.definition.forms.get(task.form) if task.form else None
        data = parse_form(schema, request.form)
        # Photos sent with the form are kept for the next try if this one is refused (web/pages/staged_uploads.py).
        files = staged_uploads.collect(svc, evidence_fields(schema), request.form, request.files, user.id)
        shown = {**data, **files.staged}
        # readOnly fields as the engine will see them (from what the hazard records), so a condition on one (the
        # plan's funds on a 重大 hazard) is shown at its field before the service is called.
        errors = {**form_errors(schema, with_context(schema, data, _prefill(task.hazard, schema)),
                                {name: len(items) for name, items in files.uploads.items()}, now=svc.clock.now()),
                  **files.errors}
        if errors:
            return render_task(s, user, task, values=shown, errors=errors, status=422)
    try:
        svc.complete_task(task_id, int(current_user.id), data, uploads=files.uploads)
    except InvalidFormData as exc:
        with svc.uow() as uow:
            user = db_user(uow.session)
            task = _task_for_view(uow.session, user, task_id)
            return render_task(uow.session, user, task, values=shown, errors=engine_errors(exc.errors), status=422)
    except NotAllowed as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("tasks.show", task_id=task_id)), 303
    except WorkflowFailed as exc:
        # A step after this task failed on the data (an incident is recorded): the task stays open, the form keeps
        # the input, and the message names the element and the missing variable (diagram text: escaped, not translated).
        with svc.uow() as uow:
            user = db_user(uow.session)
            task = _task_for_view(uow.session, user, task_id)
            return render_task(uow.session, user, task, values=shown, status=422,
                               errors={"__form__": str(_("流程无法继续，已记录故障并通知流程设计人员：")) + exc.message})
    except RectiflowError as exc:
        flash(_("提交未成功：%(m)s", m=error_text(exc)), "danger")
        return redirect(url_for("inbox.index")), 303
    flash(_("“%(name)s”已办理", name=translate(task.name)), "success")
    return redirect(url_for("inbox.index")), 303


def _task_action(task_id: int, action, done: str):
    with services().uow() as uow:
        user = db_user(uow.session)
        _task_for_view(uow.session, user, task_id)
    error = None
    try:
        action()
    except RectiflowError as exc:
        error = error_text(exc)
    if request.headers.get("HX-Request"):
        return _inbox_row(task_id, error or done, error is not None)
    flash(error or done, "danger" if error else "success")
    target = request.form.get("next") or url_for("tasks.show", task_id=task_id)
    return redirect(target if target.startswith("/") and not target.startswith("//") else "/"), 303


def _inbox_row(task_id: int, notice: str, failed: bool):
    """The task's inbox row in its new state, for htmx to swap in place of the old one."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        _task_for_view(s, user, task_id)
        row = task_row(s, task_id, svc.hooks)
        now = svc.clock.now()
        return render_template("inbox/_item.html", t=row, now=now, view=request.args.get("view", ""),
                               notice=notice, notice_error=failed, counts=tasklist.inbox_counts(s, user, now))


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int):
    """Take a group task into my inbox."""
    return _task_action(task_id, lambda: services().claim_task(task_id, int(current_user.id)), _("已认领"))


@bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@login_required
def unclaim(task_id: int):
    """Give a claimed task back to the group."""
    return _task_action(task_id, lambda: services().unclaim_task(task_id, int(current_user.id)), _("已放弃认领，任务回到组内待认领"))


@bp.route("/tasks/<int:task_id>/coordination", methods=["POST"])
@login_required
def coordinate(task_id: int):
    """需上级协调: hand the task up to the school's leadership or the bureau, with the reason."""
    to = request.form.get("to") if request.form.get("to") in ("leader", "supervisor") else "leader"
    reason = request.form.get("reason") or ""
    return _task_action(task_id, lambda: escalation.request_coordination(
        services(), task_id, int(current_user.id), reason, to), _("已提请上级协调"))


@bp.route("/tasks/<int:task_id>/delegate", methods=["POST"])
@login_required
def delegate(task_id: int):
    """Hand the task to a colleague who holds the same role."""
    to_user = request.form.get("to_user_id", type=int)
    if not to_user:
        flash(_("请选择转办对象"), "warning")
        return redirect(url_for("tasks.show", task_id=task_id)), 303
    reason = (request.form.get("reason") or "").strip() or None
    return _task_action(task_id, lambda: services().delegate_task(task_id, int(current_user.id), to_user, reason),
                        _("已转办"))
