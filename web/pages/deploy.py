"""流程部署: the deployed processes (latest version each, older versions, their files) and the upload of a bundle —
several .bpmn/.dmn/.json files or one .zip — to check (检查, the findings without deploying) or deploy (部署).

Process designers and administrators only. Uploads become a bundle by the API's rule (web.bundle_uploads); what a
bundle accepts and its limits are engine.process.bundles'. Every string a diagram supplies (names, ids, messages
that quote them) is shown escaped, never looked up with `_()`.
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from engine.infra.errors import InvalidDiagram, RectiflowError
from engine.org.models import ROLES
from engine.process import deployments, version_views
from engine.process.bundles import ALLOWED_SUFFIXES, MAX_BUNDLE_BYTES, MAX_FILE_BYTES, MAX_FILES
from engine.process.findings import ERROR
from engine.process.instance_views import latest_definitions
from engine.process.replacing import is_admin
from web.auth import designer_user, services
from web.bundle_uploads import bundle_from_files, json_object
from web.templating import error_text

bp = Blueprint("deploy", __name__)

ROLE_MAP_CODE = "bad-role-map"
SEVERITY_LABELS = {"error": _l("错误"), "warning": _l("警告")}
LIMITS = {"suffixes": " ".join(ALLOWED_SUFFIXES) + " .zip", "file_mb": MAX_FILE_BYTES // (1024 * 1024),
          "files": MAX_FILES, "bundle_mb": MAX_BUNDLE_BYTES // (1024 * 1024)}


def _overview(s) -> list[dict]:
    """Each deployed process: its latest version, how many versions it has and the latest version's files."""
    return [{"definition": p.definition, "versions": p.versions, "files": deployments.file_list(s, p.definition.id)}
            for p in version_views.process_summaries(s, services().hooks)]


def _render(status: int = 200, **context):
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        user = designer_user(s)
        form = context.pop("form", None) or {"role_map": "", "replace": False}
        return render_template("deploy/index.html", processes=_overview(s), form=form, limits=LIMITS,
                               roles=ROLES, is_admin=is_admin(user), severities=SEVERITY_LABELS,
                               **context), status


@bp.route("/deploy")
@login_required
def index():
    """The deployed processes and the upload form."""
    return _render()


def _role_map_error(text: str) -> str:
    try:
        json_object(text)
    except ValueError as exc:
        if "object" in str(exc):
            return _('角色映射必须是 JSON 对象，形如 {"泳道或候选组": "角色代码"}')
        return _('角色映射不是有效的 JSON，请填写形如 {"泳道或候选组": "角色代码"} 的 JSON 对象')
    return ""


def _findings(dicts: list[dict]) -> list[dict]:
    """Findings as the table shows them: errors first, the upload order kept within each severity."""
    return sorted(dicts, key=lambda f: f.get("severity") != ERROR)


@bp.route("/deploy", methods=["POST"])
@login_required
def submit():
    """检查 (action=validate): every finding, nothing deployed. 部署 (action=deploy): the new versions, or, when
    refused, the same findings with the role map and replace as they were typed (files must be chosen again)."""
    svc = services()
    with svc.uow() as uow:
        user_id = designer_user(uow.session).id
    action = "deploy" if request.form.get("action") == "deploy" else "validate"
    form = {"role_map": request.form.get("role_map", ""), "replace": request.form.get("replace") == "1"}
    common = {"form": form, "action": action}

    role_map_error = _role_map_error(form["role_map"])
    if role_map_error:
        return _render(422, role_map_error=role_map_error, **common)
    role_map = json_object(form["role_map"])
    try:
        bundle = bundle_from_files(request.files.getlist("file"))
        if action == "validate":
            report = svc.validate_bundle(bundle, user_id, role_map)
            return _render(200, checked={"ok": not report.errors, "processes": report.diagrams,
                                         "files": list(report.files),
                                         "findings": _findings([f.as_dict() for f in report.findings])}, **common)
        with svc.uow() as uow:
            before = {d.id for d in latest_definitions(uow.session)}
        warnings = []
        definitions = svc.deploy_bundle(bundle, user_id, role_map=role_map, replace=form["replace"],
                                        warnings=warnings)
    except InvalidDiagram as exc:
        bad_map = [e for e in exc.errors if e.get("code") == ROLE_MAP_CODE]
        if bad_map:
            detail = bad_map[0]["message"] + (f" ({bad_map[0]['fix']})" if bad_map[0].get("fix") else "")
            return _render(422, role_map_error=_("角色映射有误：%(m)s", m=detail), **common)
        return _render(422, refused=_findings(exc.errors), **common)
    except RectiflowError as exc:
        return _render(409 if exc.code == "concurrent_update" else 422, form_error=error_text(exc), **common)
    deployed = [{"definition": d, "new": d.id not in before} for d in definitions]
    return _render(200, deployed=deployed, warnings=_findings([w.as_dict() for w in warnings]),
                   form={"role_map": "", "replace": False}, action=action)


@bp.route("/deploy/<key>")
@login_required
def versions(key: str):
    """The versions of one process moved to 流程设计 (web.pages.designer); old links land there."""
    with services().uow() as uow:
        designer_user(uow.session)
    return redirect(url_for("designer.versions", key=key), 301)
