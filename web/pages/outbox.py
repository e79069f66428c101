"""发送失败的通知 (the outbox's failed rows): administrators see why delivery gave up, and queue rows again."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from engine.infra.errors import NotAllowed, NotFound
from engine.org.models import OrgNode, User
from engine.process import delivery
from web.auth import db_user, services
from web.pages.notifications import CHANNEL_LABELS, EVENT_KIND_LABELS

bp = Blueprint("outbox", __name__)

PER_PAGE = 30


@bp.route("/outbox")
@login_required
def index():
    """The failed outbox rows in the administrator's organisations, newest first; `before` pages back by id."""
    before = request.args.get("before", type=int)
    with services().uow() as uow:
        s = uow.session
        try:
            rows = delivery.list_outbox(s, "failed", limit=PER_PAGE + 1, before_id=before, user=db_user(s))
        except NotAllowed:
            abort(403)
        more = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE]
        users = {u.id: u.display_name for u in s.scalars(select(User).where(
            User.id.in_({r.recipient_id for r in rows if r.recipient_id is not None})))}
        orgs = {o.id: o.name for o in s.scalars(select(OrgNode).where(
            OrgNode.id.in_({r.recipient_org_id for r in rows if r.recipient_org_id is not None})))}
        return render_template("outbox/index.html", rows=rows, users=users, orgs=orgs, channels=CHANNEL_LABELS,
                               kinds=EVENT_KIND_LABELS, next_before=rows[-1].id if more else None)


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@login_required
def retry(message_id: int):
    """Queue one failed row again; the next delivery run (the scheduler, every 15 s) sends it."""
    svc = services()
    with svc.uow() as uow:
        user_id = db_user(uow.session).id
    try:
        queued = delivery.retry_failed(svc, message_id, user_id)
    except NotAllowed:
        abort(403)
    except NotFound:
        abort(404)
    if queued:
        flash(_("已重新加入发送队列"), "success")
    else:
        flash(_("该通知不是发送失败状态，无需重试"), "warning")
    return redirect(url_for("outbox.index")), 303


@bp.route("/outbox/retry-all", methods=["POST"])
@login_required
def retry_all():
    """Queue every failed row in the administrator's organisations again."""
    svc = services()
    with svc.uow() as uow:
        user_id = db_user(uow.session).id
    try:
        count = delivery.retry_all_failed(svc, user_id)
    except NotAllowed:
        abort(403)
    flash(_("已将 %(n)s 条通知重新加入发送队列", n=count), "success")
    return redirect(url_for("outbox.index")), 303
