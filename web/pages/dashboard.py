"""驾驶舱: the leader's home page — their approvals on top, then the charts of their widest scope.

The charts are drawn in the browser (ECharts, vendored) from /dashboard.json, the same figures the API serves at
/api/v1/dashboard; every figure and chart segment opens the 隐患查询 list behind it.
"""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request
from flask_login import login_required

from engine.infra.errors import NotAllowed, NotFound
from engine.reports import dashboard as dashboard_model
from engine.reports import statistics
from engine.rectification import inbox as hazard_inbox
from web.auth import db_user, services

bp = Blueprint("dashboard", __name__)
# Who lands here after signing in: the people whose work is watching and approving (the rest land in the inbox).
WATCHING_ROLES = ("leader", "supervisor")


def _figures(s, user):
    try:
        return dashboard_model.dashboard(s, user, services().clock.now(), org_id=request.args.get("org", type=int))
    except NotAllowed:
        abort(403)
    except NotFound:
        abort(404)


@bp.route("/dashboard")
@login_required
def index():
    """My approvals (the first inbox tab that holds work), the figures, and the charts' frame."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        figures = _figures(s, user)
        now = svc.clock.now()
        approvals = hazard_inbox.inbox(s, user, "mine", now, page=1, per_page=5, hooks=svc.hooks)
        offered = hazard_inbox.inbox(s, user, "groups", now, page=1, per_page=5, hooks=svc.hooks)
        return render_template("dashboard/index.html", figures=figures, approvals=approvals, offered=offered,
                               orgs=statistics.statistics_orgs(s, user), now=now,
                               data_url=request.full_path.replace("/dashboard", "/dashboard.json", 1))


@bp.route("/dashboard.json")
@login_required
def data():
    """The dashboard's figures as JSON (what the charts draw)."""
    with services().uow() as uow:
        s = uow.session
        return jsonify(_figures(s, db_user(s)))
