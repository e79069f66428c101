"""故障 (incidents): failed process steps in the designer's or administrator's organisations, with a retry button."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from engine.infra.errors import NotAllowed, RectiflowError, WorkflowFailed
from engine.process.incidents import list_incidents
from web.auth import db_user, services
from web.templating import error_text

bp = Blueprint("incidents", __name__)

PER_PAGE = 30
STATUS_LABELS = {"open": _l("未解决"), "resolved": _l("已解决"), "all": _l("全部")}
KIND_LABELS = {"task": _l("办理任务后"), "timer": _l("定时器"), "message": _l("消息投递"), "start": _l("消息启动后")}


@bp.route("/incidents")
@login_required
def index():
    """The incidents list, newest first; `before` pages back by id (keyset)."""
    status = request.args.get("status", "open")
    if status not in STATUS_LABELS:
        status = "open"
    before = request.args.get("before", type=int)
    with services().uow() as uow:
        s = uow.session
        try:
            rows = list_incidents(s, db_user(s), None if status == "all" else status, limit=PER_PAGE + 1,
                                  before_id=before)
        except NotAllowed:
            abort(403)
        more = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE]
        items = [(i, i.instance.definition) for i in rows]
        return render_template("incidents/index.html", items=items, status=status, statuses=STATUS_LABELS,
                               kinds=KIND_LABELS, next_before=rows[-1].id if more else None)


@bp.route("/incidents/<int:incident_id>/retry", methods=["POST"])
@login_required
def retry(incident_id: int):
    """Run the failed step again; the list says whether it passed or why it failed again."""
    svc = services()
    with svc.uow() as uow:
        user_id = db_user(uow.session).id
    try:
        svc.retry_incident(incident_id, user_id)
    except WorkflowFailed as exc:
        # The engine's message names the diagram's element: shown escaped, not translated.
        flash(str(_("重试仍未成功：")) + exc.message, "danger")
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
    else:
        flash(_("重试成功，故障已解决"), "success")
    return redirect(url_for("incidents.index", status=request.form.get("status", "open"))), 303
