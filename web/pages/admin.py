"""组织机构, 人员管理 and 批量导入: administrators manage the part of the tree they administer, and its people."""
from __future__ import annotations

import functools
import json
import queue
import threading

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import func, select

from engine.admin import imports, orgs, people
from engine.admin.scope import admin_paths
from engine.infra.errors import InvalidFormData, NotFound, RectiflowError
from engine.org.models import ORG_KINDS, ROLES, UNIT_TYPES, OrgNode, User
from web.auth import db_user, services, settings
from web.templating import error_text

bp = Blueprint("admin", __name__)

PER_PAGE = 100
KIND_LABELS = {"province": "省", "city": "市", "county": "区县", "school": "学校", "unit": "单位", "grid": "网格"}
UNIT_TYPE_LABELS = {"college": "二级学院", "office": "机关处室", "affiliate": "附属单位"}


def _actor(s) -> User:
    user = db_user(s)
    if not admin_paths(s, user):
        abort(403)
    return user


def _command(verb, ok: str):
    """Run one administrative verb in its own unit of work; flash the outcome. True when it worked."""
    svc = services()
    try:
        with svc.uow() as uow:
            verb(uow.session, _actor(uow.session), svc.clock.now())
            uow.commit()
    except NotFound:
        abort(404)
    except InvalidFormData as exc:
        flash("；".join(e["message"] for e in exc.errors) or error_text(exc), "danger")
        return False
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
        return False
    flash(ok, "success")
    return True


def _form(*names: str) -> dict:
    return {n: (request.form.get(n) or "").strip() or None for n in names}


@bp.route("/orgs")
@login_required
def org_tree():
    """The tree under the administrator's grants, in tree order, a page of 100 nodes at a time."""
    after = request.args.get("after") or None
    with services().uow() as uow:
        s = uow.session
        actor = _actor(s)
        nodes = orgs.list_nodes(s, actor, after_path=after if after and after.strip("/").replace("/", "").isdigit()
                                else None, limit=PER_PAGE + 1)
        more = len(nodes) > PER_PAGE
        nodes = nodes[:PER_PAGE]
        counts = dict(s.execute(select(User.org_id, func.count()).where(
            User.org_id.in_([n.id for n in nodes]), User.active.is_(True)).group_by(User.org_id)).all())
        base = min((n.path.count("/") for n in nodes), default=2)
        return render_template("admin/orgs.html", nodes=nodes, counts=counts, base=base, kinds=KIND_LABELS,
                               unit_types=UNIT_TYPE_LABELS, next_after=nodes[-1].path if more else None)


@bp.route("/orgs/<int:org_id>")
@login_required
def org_detail(org_id: int):
    """One node: edit, add a child, move, hand over its open work, deactivate or reactivate."""
    with services().uow() as uow:
        s = uow.session
        actor = _actor(s)
        try:
            node = orgs.get_node(s, actor, org_id)
        except NotFound:
            abort(404)
        work = orgs.open_work(s, node) if node.active else None
        siblings = [n for n in orgs.list_nodes(s, actor, kind=node.kind, active=True, limit=500) if n.id != node.id]
        parents = [n for n in orgs.list_nodes(s, actor, active=True, limit=500)
                   if n.kind in ORG_KINDS[:ORG_KINDS.index(node.kind)] and not n.path.startswith(node.path)]
        return render_template("admin/org.html", node=node, work=work, siblings=siblings, parents=parents,
                               kinds=KIND_LABELS, unit_types=UNIT_TYPE_LABELS, all_kinds=ORG_KINDS,
                               all_unit_types=UNIT_TYPES)


@bp.route("/orgs/<int:org_id>/children", methods=["POST"])
@login_required
def org_add(org_id: int):
    values = _form("kind", "name", "code", "short_name", "unit_type")
    _command(lambda s, a, now: orgs.add_node(s, a, now, parent_id=org_id, **values), _("已添加下级组织"))
    return redirect(url_for("admin.org_detail", org_id=org_id)), 303


@bp.route("/orgs/<int:org_id>/edit", methods=["POST"])
@login_required
def org_edit(org_id: int):
    changes = _form("name", "code", "short_name", "unit_type", *(("headcount",) if "headcount" in request.form else ()))
    _command(lambda s, a, now: orgs.update_node(s, a, now, org_id, changes), _("已保存"))
    return redirect(url_for("admin.org_detail", org_id=org_id)), 303


@bp.route("/orgs/<int:org_id>/move", methods=["POST"])
@login_required
def org_move(org_id: int):
    parent = request.form.get("parent_id", type=int)
    _command(lambda s, a, now: orgs.move_node(s, a, now, org_id, parent), _("已移动"))
    return redirect(url_for("admin.org_detail", org_id=org_id)), 303


@bp.route("/orgs/<int:org_id>/hand-over", methods=["POST"])
@login_required
def org_hand_over(org_id: int):
    target = request.form.get("to_org_id", type=int)
    _command(lambda s, a, now: orgs.hand_over(s, a, now, org_id, target), _("未完成的任务和隐患已移交"))
    return redirect(url_for("admin.org_detail", org_id=org_id)), 303


@bp.route("/orgs/<int:org_id>/active", methods=["POST"])
@login_required
def org_active(org_id: int):
    active = request.form.get("active") == "1"
    _command(lambda s, a, now: orgs.set_active(s, a, now, org_id, active), _("已启用") if active else _("已停用"))
    return redirect(url_for("admin.org_detail", org_id=org_id)), 303


@bp.route("/people")
@login_required
def people_list():
    """People whose home node the administrator administers: search by name, 工号 or phone; 100 a page."""
    q = (request.args.get("q") or "").strip()[:100] or None
    after = request.args.get("after", type=int)
    show = request.args.get("active", "1")
    with services().uow() as uow:
        s = uow.session
        actor = _actor(s)
        rows = people.list_users(s, actor, q=q, active=None if show == "all" else show == "1", after_id=after,
                                 limit=PER_PAGE + 1)
        more = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE]
        org_names = _org_names(s, {u.org_id for u in rows} | {g.org_id for u in rows for g in u.grants})
        units = orgs.list_nodes(s, actor, active=True, limit=500)
        return render_template("admin/people.html", rows=rows, org_names=org_names, q=q or "", show=show,
                               next_after=rows[-1].id if more else None, units=units, roles=ROLES)


def _org_names(s, ids) -> dict[int, str]:
    return dict(s.execute(select(OrgNode.id, OrgNode.name).where(OrgNode.id.in_(ids))).all()) if ids else {}


@bp.route("/people", methods=["POST"])
@login_required
def people_create():
    values = _form("username", "display_name", "employee_no", "phone", "email")
    org_id = request.form.get("org_id", type=int)
    role = request.form.get("role") or None
    password = request.form.get("password") or None
    _command(lambda s, a, now: people.create_user(s, a, now, org_id=org_id, password=password,
                                                  roles=[(role, org_id)] if role else [], **values),
             _("已创建人员，首次登录须修改密码"))
    return redirect(url_for("admin.people_list")), 303


@bp.route("/people/<int:user_id>")
@login_required
def person(user_id: int, reset_code: str | None = None):
    with services().uow() as uow:
        s = uow.session
        actor = _actor(s)
        try:
            user = people.get_user(s, actor, user_id)
        except NotFound:
            abort(404)
        org_names = _org_names(s, {user.org_id} | {g.org_id for g in user.grants})
        return render_template("admin/person.html", user=user, org_names=org_names, roles=ROLES,
                               units=orgs.list_nodes(s, actor, active=True, limit=500),
                               claimed=people.claimed_open_tasks(s, user.id), reset_code=reset_code)


@bp.route("/people/<int:user_id>/edit", methods=["POST"])
@login_required
def person_edit(user_id: int):
    changes = {k: v for k, v in _form("display_name", "employee_no", "phone", "email").items()}
    if request.form.get("org_id", type=int):
        changes["org_id"] = request.form.get("org_id", type=int)
    _command(lambda s, a, now: people.update_user(s, a, now, user_id, changes), _("已保存"))
    return redirect(url_for("admin.person", user_id=user_id)), 303


@bp.route("/people/<int:user_id>/active", methods=["POST"])
@login_required
def person_active(user_id: int):
    active = request.form.get("active") == "1"
    _command(lambda s, a, now: people.set_active(s, a, now, user_id, active),
             _("已启用") if active else _("已停用，其认领的任务已退回组内"))
    return redirect(url_for("admin.person", user_id=user_id)), 303


@bp.route("/people/<int:user_id>/password-reset", methods=["POST"])
@login_required
def person_reset(user_id: int):
    """Reset to a one-time code, shown on this answer only (never stored in plain text, never flashed)."""
    svc = services()
    try:
        with svc.uow() as uow:
            code = people.reset_password(uow.session, _actor(uow.session), svc.clock.now(), user_id)
            uow.commit()
    except NotFound:
        abort(404)
    return person(user_id, reset_code=code)


@bp.route("/people/<int:user_id>/grants", methods=["POST"])
@login_required
def person_grant(user_id: int):
    role, org_id = request.form.get("role", ""), request.form.get("org_id", type=int)
    _command(lambda s, a, now: people.grant(s, a, now, user_id, role, org_id), _("已授权"))
    return redirect(url_for("admin.person", user_id=user_id)), 303


@bp.route("/people/<int:user_id>/grants/<int:grant_id>/revoke", methods=["POST"])
@login_required
def person_revoke(user_id: int, grant_id: int):
    _command(lambda s, a, now: people.revoke(s, a, now, user_id, grant_id), _("已撤销授权"))
    return redirect(url_for("admin.person", user_id=user_id)), 303


@bp.route("/admin/import", methods=["GET", "POST"])
@login_required
def bulk_import():
    """Upload an org file or a roster: all rows or none; the errors by line, or the one-time initial passwords.

    The page's script asks for `application/x-ndjson`: then the import runs beside the response, which streams one
    line per batch ({"done", "total"}) for the progress bar and ends with the rendered results ({"html", "ok"})."""
    if request.method == "GET":
        with services().uow() as uow:
            _actor(uow.session)
        return _import_page({})
    what = "orgs" if request.form.get("what") == "orgs" else "roster"
    upload = request.files.get("file")
    try:
        rows = uploaded_rows(upload, imports.ORG_COLUMNS if what == "orgs" else imports.ROSTER_COLUMNS)
        with services().uow() as uow:
            actor_id = _actor(uow.session).id
    except RectiflowError as exc:
        outcome = _refused(exc)
        if _streamed():
            return _stream(iter([("end", outcome)]))
        return _import_page(outcome, 422)
    run = functools.partial(_run_import, services(), what, rows, upload.filename, actor_id)
    if _streamed():
        return _stream(_in_thread(run))
    outcome = run(None)
    return _import_page(outcome, 422 if outcome.get("errors") or "error" in outcome else 200)


def uploaded_rows(upload, columns) -> list:
    """The rows of an uploaded .xlsx/.csv file with these columns (InvalidFormData when missing or too large)."""
    limit = settings().max_upload_bytes
    data = upload.read(limit + 1) if upload and upload.filename else b""
    if not data:
        raise InvalidFormData("no file", [{"field": "file", "message": _("请选择 .xlsx 或 .csv 文件")}])
    if len(data) > limit:
        raise InvalidFormData("too large", [{"field": "file", "message": _("文件过大")}])
    return imports.read_rows(upload.filename, data, columns)


def _refused(exc: Exception) -> dict:
    """An outcome for a refusal: the errors by line, or the error itself (put into words by _results_context, which
    runs where there is a request to translate for; the import's thread has none)."""
    return {"errors": exc.errors} if isinstance(exc, InvalidFormData) else {"error": exc}


def _run_import(svc, what: str, rows: list, file_name: str, actor_id: int, progress) -> dict:
    """One unit of work: every row or none (the outcome as the results partial takes it)."""
    try:
        with svc.uow() as uow:
            s = uow.session
            actor, now = s.get(User, actor_id), svc.clock.now()
            if what == "orgs":
                result = imports.import_orgs(s, actor, now, rows, progress, file_name=file_name)
            else:
                result = imports.import_roster(s, actor, now, rows, progress, file_name=file_name)
            uow.commit()
    except RectiflowError as exc:
        return _refused(exc)
    return {"created": result.created, "credentials": result.credentials}


def _in_thread(run):
    """Run `run(progress)` in a worker thread; yield ("progress", done, total) as it goes, then ("end", outcome)."""
    events: queue.Queue = queue.Queue()
    log = current_app.logger  # the thread has no app context of its own

    def work():
        try:
            events.put(("end", run(lambda done, total: events.put(("progress", done, total)))))
        except Exception as exc:  # noqa: BLE001  (reported to the page, and logged)
            log.exception("import failed")
            events.put(("end", _refused(exc)))

    threading.Thread(target=work, name="rectiflow-import", daemon=True).start()
    while True:
        event = events.get()
        yield event
        if event[0] == "end":
            return


def _stream(events):
    def lines():
        for event in events:
            if event[0] == "progress":
                yield json.dumps({"done": event[1], "total": event[2]}) + "\n"
                continue
            results = _results_context(event[1])
            html = render_template("admin/_import_results.html", **results)
            yield json.dumps({"html": html, "ok": not results["errors"]}, ensure_ascii=False) + "\n"
    # No proxy may hold the lines back (nginx: X-Accel-Buffering), and nobody may keep the passwords.
    return Response(stream_with_context(lines()), mimetype="application/x-ndjson",
                    headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})


def _streamed() -> bool:
    return request.accept_mimetypes.best == "application/x-ndjson"


def _results_context(outcome: dict) -> dict:
    """What the results partial shows for an outcome of _run_import or _refused."""
    errors = outcome.get("errors") or []
    if "error" in outcome:
        error = outcome["error"]
        errors = [{"message": error_text(error) if isinstance(error, RectiflowError) else _("导入失败，未导入任何数据")}]
    return {"errors": errors, "credentials": outcome.get("credentials") or [], "created": outcome.get("created")}


def _import_page(outcome: dict, status: int = 200):
    return render_template("admin/import.html", org_columns=imports.ORG_COLUMNS,
                           roster_columns=imports.ROSTER_COLUMNS, org_types=list(imports.ORG_TYPES),
                           role_names=list(imports.ROLE_NAMES), **_results_context(outcome)), status
