"""首次运行 (/setup): the first administrator of an empty database, with the org tree from a file or one top node.

Open only while no administrator exists, and only with the setup code the operator reads from `rectiflow serve`
or `rectiflow admin setup-code` (engine/admin/first_run.py).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.admin import first_run, imports
from engine.infra.config import Settings
from engine.infra.errors import Conflict, InvalidFormData, RectiflowError
from web.auth import first_run_open, services, settings, start_session
from web.pages.admin import uploaded_rows
from web.templating import error_text

bp = Blueprint("setup", __name__)
LOOPBACK = ("127.0.0.1", "::1")


def _password_texts() -> dict:
    return {"too_short": _("密码至少需要 8 位"),
            "too_common": _("密码太容易被猜到（常见密码、键盘顺序、日期，或含本人姓名、工号、手机号），请换一个")}


TOP_KIND_LABELS = {"province": _l("省教育厅"), "city": _l("市教育局"), "county": _l("区县教育局"), "school": _l("学校")}


@bp.route("/setup", methods=["GET", "POST"])
def first_admin():
    """The first-run form; once an administrator exists, 404."""
    if not first_run_open():
        abort(404)
    if settings().secret_key == Settings.secret_key and request.remote_addr not in LOOPBACK:
        abort(404)  # the development secret is public, and so is its setup code: this machine only
    form = {k: (request.form.get(k) or "").strip() for k in
            ("username", "display_name", "kind", "name", "code", "short_name")}
    errors, status = [], 200
    if request.method == "POST":
        try:
            if not first_run.code_matches(settings().secret_key, request.form.get("setup_code", "")):
                raise InvalidFormData("wrong setup code", [{"field": "setup_code", "message": _("设置码不正确")}])
            password = request.form.get("password", "")
            if password != request.form.get("password2", ""):
                raise InvalidFormData("passwords differ", [{"field": "password", "message": _("两次输入的密码不一致")}])
            upload = request.files.get("file")
            rows = uploaded_rows(upload, imports.ORG_COLUMNS) if upload and upload.filename else None
            top = None if rows is not None else {k: form[k] for k in ("kind", "name", "code", "short_name")}
            svc = services()
            with svc.uow() as uow:
                user, node = first_run.create_first_admin(
                    uow.session, svc.clock.now(), username=form["username"], display_name=form["display_name"],
                    password=password, org_rows=rows, file_name=upload.filename if rows is not None else "",
                    top=top)
                uow.commit()
                node_name = node.name
                current_app.extensions["rectiflow_has_admin"] = True
                start_session(user)
            flash(_("管理员已创建：%(name)s。接下来可以导入人员名单。", name=node_name), "success")
            return redirect(url_for("admin.bulk_import")), 303
        except Conflict:
            abort(404)
        except InvalidFormData as exc:
            errors, status = [{**e, "message": _password_texts().get(e.get("code"), e["message"])}
                              for e in exc.errors], 422
        except RectiflowError as exc:
            errors, status = [{"message": error_text(exc)}], 422
    return render_template("auth/setup.html", form=form, errors=errors, kinds=TOP_KIND_LABELS,
                           org_columns=imports.ORG_COLUMNS, org_types=list(imports.ORG_TYPES)), status
