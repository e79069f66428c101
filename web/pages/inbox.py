"""The inbox: my tasks, my groups' tasks, overdue tasks; filters (saved and shared), claim and bulk claim."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine.infra.errors import RectiflowError
from engine.process import tasklist as queries
from engine.rectification import inbox as hazard_inbox
from web.auth import db_user, services
from web.pages import saved_filters
from web.scope import visible_units
from web.templating import error_text

bp = Blueprint("inbox", __name__)

# Inbox filter → task list filter of engine.rectification.visibility (tasks of every process).
FILTER_COLUMNS = {"unit": "unit_id", "category": "category", "grade": "grade", "status": "status",
                  "campaign": "campaign_id", "process": "process", "q": "text", "sort": "sort"}
INT_FILTERS = {"unit", "campaign"}


def _filters_from(args) -> dict:
    values = {}
    for key in FILTER_COLUMNS:
        raw = (args.get(key) or "").strip()
        if raw:
            values[key] = raw[:100]
    if values.get("sort") not in queries.TASK_SORTS or values.get("sort") == "due":
        values.pop("sort", None)  # the default order needs no mention (a saved filter or a link keeps it short)
    return values


def _query_filters(values: dict) -> dict:
    query = {}
    for key, raw in values.items():
        if key in INT_FILTERS:
            if not raw.isdigit():
                continue
            raw = int(raw)
        query[FILTER_COLUMNS[key]] = raw
    return query


@bp.route("/inbox")
@login_required
def index():
    """One inbox view with its counts, filters and saved filters."""
    svc = services()
    view = request.args.get("view")
    if view is not None and view not in queries.INBOX_VIEWS:
        abort(404)
    page_no = request.args.get("page", 1, type=int) or 1
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        saved = saved_filters.list_for(s, user)
        values = _filters_from(request.args)
        chosen = request.args.get("filter", type=int)
        if chosen and not values:
            match = next((f for f in saved if f["id"] == chosen), None)
            values = dict(match["values"]) if match else {}
        now = svc.clock.now()
        counts = queries.inbox_counts(s, user, now)
        if view is None:  # on arrival: the first tab that holds work (组内待认领 when nothing is claimed yet)
            view = next((v for v in queries.INBOX_VIEWS if counts[v]), queries.INBOX_VIEWS[0])
        page = hazard_inbox.inbox(s, user, view, now, page=page_no, per_page=25, filters=_query_filters(values),
                                  hooks=svc.hooks)
        units = visible_units(s, user)
        processes = queries.process_names(s)
        groups = saved_filters.groups_of(user)
        return render_template("inbox/index.html", view=view, page=page, counts=counts, now=now,
                               units=units, processes=processes, values=values, saved=saved, chosen=chosen,
                               groups=groups, pages=max(1, -(-page.total // page.per_page)))


@bp.route("/inbox/claim", methods=["POST"])
@login_required
def bulk_claim():
    """Claim several group tasks at once; each claim is its own transaction, failures are reported."""
    svc = services()
    ids = [int(v) for v in request.form.getlist("task_ids") if v.isdigit()]
    if not ids:
        flash(_("请先勾选要认领的任务"), "warning")
        return redirect(url_for("inbox.index", view="groups"))
    claimed, failed = 0, []
    for task_id in ids:
        try:
            svc.claim_task(task_id, int(current_user.id))
            claimed += 1
        except RectiflowError as exc:
            failed.append(f"#{task_id}: {error_text(exc)}")
    if claimed:
        flash(_("已认领 %(n)s 项任务", n=claimed), "success")
    for message in failed:
        flash(_("认领失败 %(m)s", m=message), "danger")
    return redirect(url_for("inbox.index", view="mine"))


@bp.route("/inbox/filters", methods=["POST"])
@login_required
def save_filter():
    """Save the current filters under a name, for me or shared with one of my groups."""
    name = (request.form.get("name") or "").strip()
    values = _filters_from(request.form)
    if not name or not values:
        flash(_("请填写名称并至少选择一个筛选条件"), "warning")
        return redirect(url_for("inbox.index", **values))
    share = request.form.get("share") or ""
    try:
        saved_filters.save(services(), name, values, share)
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("inbox.index", **values))
    flash(_("筛选条件“%(name)s”已保存", name=name), "success")
    return redirect(url_for("inbox.index", view=request.form.get("view", "mine"), **values))


@bp.route("/inbox/filters/<int:filter_id>/delete", methods=["POST"])
@login_required
def delete_filter(filter_id: int):
    """Delete one of my saved filters."""
    try:
        saved_filters.delete(services(), filter_id)
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
    return redirect(url_for("inbox.index"))
