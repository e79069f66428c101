"""My profile (who I am, my roles and scope) and the language switch."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from sqlalchemy import select

from engine.infra.errors import RectiflowError
from engine.org import accounts, tokens
from engine.org.models import OrgNode
from web.auth import WebUser, db_user, services
from web.pages.notifications import preference_table
from web.templating import LOCALES, error_text

bp = Blueprint("profile", __name__)
# Roles whose holders connect scripts and other systems; everyone else's profile has no token card (issue 13).
SCRIPTING_ROLES = frozenset({"security_office", "supervisor", "process_designer", "admin"})


@bp.route("/profile")
@login_required
def show():
    """Name, organisation, roles with the org each applies to, API tokens, language."""
    return _render()


def _render(new_token: str | None = None):
    # Read the tokens before opening this page's own unit of work: SQLite holds a write lock per transaction.
    my_tokens = tokens.tokens_of(services(), int(current_user.id))
    prefs = preference_table(int(current_user.id))
    with services().uow() as uow:
        s = uow.session
        user = db_user(s)
        org_ids = {g.org_id for g in user.grants} | {user.org_id}
        orgs = {o.id: o for o in s.scalars(select(OrgNode).where(OrgNode.id.in_(org_ids)))}
        show_tokens = bool(my_tokens) or any(g.role in SCRIPTING_ROLES for g in user.grants)
        return render_template("profile/show.html", user=user, orgs=orgs, locales=LOCALES, tokens=my_tokens,
                               show_tokens=show_tokens,
                               new_token=new_token, now=services().clock.now(), token_days=tokens.DEFAULT_EXPIRY_DAYS,
                               **prefs)


@bp.route("/profile/tokens", methods=["POST"])
@login_required
def create_token():
    """Issue an API token for scripts; its secret is shown in this response only (never stored, nor put in a cookie)."""
    with services().uow() as uow:
        may_script = any(g.role in SCRIPTING_ROLES for g in db_user(uow.session).grants)
    if not may_script:
        flash(_("您的角色无需 API 令牌；如需接入其他系统，请联系管理员"), "warning")
        return redirect(url_for("profile.show")), 303
    try:
        _token, plaintext = tokens.create_token(services(), int(current_user.id), request.form.get("name", ""))
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("profile.show")), 303
    return _render(new_token=plaintext)


@bp.route("/profile/password", methods=["POST"])
@login_required
def change_password():
    """Change my password: every other session and remember cookie of mine ends; this browser stays signed in."""
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", ""):
        flash(_("两次输入的新密码不一致"), "danger")
        return redirect(url_for("profile.show")), 303
    with services().uow() as uow:
        user = db_user(uow.session)
        try:
            accounts.change_password(uow.session, user, request.form.get("old_password", ""), new)
        except RectiflowError as exc:
            first = exc.errors[0] if getattr(exc, "errors", None) else {}
            if first.get("field") == "old_password":
                flash(_("当前密码不正确"), "danger")
            elif first.get("code") == "too_common":
                flash(_("新密码太容易被猜到（常见密码、键盘顺序、日期，或含本人姓名、工号、手机号），请换一个"), "danger")
            else:
                flash(_("新密码至少需要 %(n)s 位", n=accounts.MIN_PASSWORD_LENGTH), "danger")
            return redirect(url_for("profile.show")), 303
        version = user.session_version
        uow.commit()
    # The old sign-in id carries the old version: sign this browser in again under the new one.
    me: WebUser = current_user._get_current_object()
    login_user(WebUser(**{**me.__dict__, "session_version": version, "must_change_password": False}))
    flash(_("密码已修改，其他设备上的登录已失效"), "success")
    return redirect(url_for("profile.show")), 303


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke one of my API tokens."""
    try:
        tokens.revoke_token(services(), token_id, int(current_user.id))
    except RectiflowError as exc:
        flash(error_text(exc), "danger")
    else:
        flash(_("令牌已吊销"), "success")
    return redirect(url_for("profile.show")), 303


@bp.route("/language", methods=["POST"])
def language():
    """Switch the interface language for this browser session (signed in or not)."""
    chosen = request.form.get("lang")
    if chosen in LOCALES:
        session["lang"] = chosen
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("auth.home")
    return redirect(target), 303
