"""流程设计: every deployed process (latest version, protected or not, running instances), each process's versions
(who deployed them when, running instances per version, files) and the semantic diff of any two versions, drawn by
bpmn-js-differ in the browser (static/js/diagram-diff.js) from each version's diagram served here as JSON.

Process designers and administrators only, like 流程部署 (web.pages.deploy). What a diagram supplies (names, ids,
the XML) is shown escaped or handed to the browser as JSON, never looked up with `_()`.
"""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from engine.infra.errors import NotFound
from engine.process import version_views
from web.auth import designer_user, services

bp = Blueprint("designer", __name__)


@bp.route("/designer")
@login_required
def index():
    """Every deployed process: key, name, latest version, protection, running instances."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        designer_user(s)
        return render_template("designer/index.html", processes=version_views.process_summaries(s, svc.hooks))


def _rows(s, key: str):
    try:
        return version_views.version_rows(s, key)
    except NotFound:
        abort(404)


@bp.route("/designer/<key>")
@login_required
def versions(key: str):
    """Every version of one process, newest first: who deployed it when, its running instances, its files."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        designer_user(s)
        rows = _rows(s, key)
        return render_template("designer/versions.html", key=key, latest=rows[0].definition, rows=rows,
                               protected_by=version_views.protected_by(svc.hooks, key))


@bp.route("/designer/<key>/diff")
@login_required
def diff(key: str):
    """The diff of two versions (`from`, `to`; by default the one before the latest and the latest)."""
    with services().uow() as uow:
        s = uow.session
        designer_user(s)
        rows = _rows(s, key)
        numbers = [r.definition.version for r in rows]
        old = request.args.get("from", type=int, default=numbers[1] if len(numbers) > 1 else numbers[0])
        new = request.args.get("to", type=int, default=numbers[0])
        if old not in numbers or new not in numbers:
            abort(404)
        if old > new:  # always from the older to the newer: added means added since
            return redirect(url_for("designer.diff", key=key, **{"from": new, "to": old}), 303)
        return render_template("designer/diff.html", key=key, numbers=numbers, old=old, new=new,
                               latest=rows[0].definition)


@bp.route("/designer/<key>/versions/<int:version>.json")
@login_required
def version_diagram(key: str, version: int):
    """One version's BPMN XML as JSON (for the diff page's viewers)."""
    with services().uow() as uow:
        s = uow.session
        designer_user(s)
        try:
            definition = version_views.version_definition(s, key, version)
        except NotFound:
            abort(404)
        return jsonify(key=definition.key, version=definition.version, xml=definition.source_xml)
