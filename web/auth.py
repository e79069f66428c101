"""Sign-in and sign-out with Flask-Login; the signed-in user as the engine sees it.

A sign-in's id (what Flask-Login keeps in the session and the remember-me cookie) is
"<user id>:<session version>:<issued at, epoch seconds>". Logout and a password change bump the user's session
version, which ends every session and remember cookie of that user in every worker; the issue time bounds a
remember cookie to REMEMBER_COOKIE_DURATION on the server too (the browser's expiry alone is not a limit).
Failed sign-ins are throttled per client address by Flask-Limiter and counted per account in the database
(engine/org/accounts.sign_in), which locks the account for a while and notifies its owner.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from sqlalchemy.orm import Session

from engine.admin import first_run
from engine.infra.config import Settings
from engine.infra.errors import NotAllowed
from engine.org import accounts
from engine.org.models import User
from engine.process.outbox import enqueue
from engine.process.services import Services

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = None
login_manager.session_protection = "strong"


@dataclass
class WebUser(UserMixin):
    """What a request needs to know about who is signed in, without holding a database session."""

    id: int
    username: str
    display_name: str
    org_id: int
    locale: str
    grants: tuple[tuple[str, int], ...]
    session_version: int = 0
    issued: int = 0  # when this sign-in began (epoch seconds, wall clock)
    must_change_password: bool = False  # imported or admin-created: only the password change page until then

    def get_id(self) -> str:
        """The sign-in's id for the session and the remember cookie (see the module docstring)."""
        return f"{self.id}:{self.session_version}:{self.issued}"

    @property
    def roles(self) -> set[str]:
        """The roles the user holds anywhere."""
        return {role for role, _ in self.grants}

    def has_role(self, *roles: str) -> bool:
        """True when the user holds any of these roles anywhere."""
        return bool(self.roles & set(roles))


def services() -> Services:
    """The engine services built once by create_app."""
    return current_app.extensions["rectiflow"]


def db_user(session_: Session) -> User:
    """The signed-in user's row in this session (refused if deactivated since signing in)."""
    user = session_.get(User, int(current_user.id))
    if user is None or not user.active:
        abort(401)
    return user


def designer_user(session_: Session) -> User:
    """The signed-in user when a process designer or an administrator (流程部署, 流程设计); 403 for everyone else."""
    user = db_user(session_)
    try:
        services().require_designer(session_, user.id)
    except NotAllowed:
        abort(403)
    return user


def settings() -> Settings:
    """The settings create_app was built with."""
    return current_app.extensions["rectiflow_settings"]


def _web_user(user: User, issued: int) -> WebUser:
    return WebUser(id=user.id, username=user.username, display_name=user.display_name, org_id=user.org_id,
                   locale=user.locale or "zh_CN", grants=tuple((g.role, g.org_id) for g in user.grants),
                   session_version=user.session_version, issued=issued,
                   must_change_password=bool(user.must_change_password))


def start_session(user: User, remember: bool = False) -> None:
    """Sign this browser in as `user` (a checked password, or the first-run page's new administrator)."""
    # Not permanent: the cookie ends with the browser, and PERMANENT_SESSION_LIFETIME bounds it anyway.
    login_user(_web_user(user, int(time.time())), remember=remember)


def _parse_id(sign_in_id: str) -> tuple[int, int, int] | None:
    parts = sign_in_id.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None  # also ids from before session versions: those sessions end
    user_id, version, issued = (int(p) for p in parts)
    return user_id, version, issued


@login_manager.user_loader
def load_user(sign_in_id: str) -> WebUser | None:
    """Flask-Login's loader (session and remember cookie): the user while the sign-in is live, else None."""
    parsed = _parse_id(sign_in_id)
    if parsed is None:
        return None
    user_id, version, issued = parsed
    # Wall-clock time, like Flask's own session age check: the engine's clock may be a demo's or a test's.
    if time.time() - issued > current_app.config["REMEMBER_COOKIE_DURATION"].total_seconds():
        return None  # no sign-in outlives the remember-me lifetime (the issue time is signed with the cookie)
    with services().uow() as uow:
        user = uow.session.get(User, user_id)
        if user is None or not user.active or user.session_version != version:
            return None
        return _web_user(user, issued)


def sign_in_config(settings_: Settings, production: bool) -> dict:
    """Flask, Flask-Login and Flask-Limiter settings for sessions, cookies and sign-in throttling."""
    return {
        "SESSION_COOKIE_SECURE": production if settings_.session_cookie_secure is None
        else settings_.session_cookie_secure,
        "REMEMBER_COOKIE_SECURE": production if settings_.remember_cookie_secure is None
        else settings_.remember_cookie_secure,
        # Flask checks a session cookie's signature age against this even for non-permanent sessions.
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=settings_.session_hours),
        "REMEMBER_COOKIE_DURATION": timedelta(days=settings_.remember_days),
        "RATELIMIT_STORAGE_URI": settings_.ratelimit_storage_uri,
        "RATELIMIT_HEADERS_ENABLED": True,
    }


# What a user who must choose a new password may still open.
_BEFORE_PASSWORD_CHANGE = {"profile.show", "profile.change_password", "auth.logout", "auth.login", "static",
                           "profile.language"}


def _require_password_change():
    """A signed-in user with a forced password change sees only the profile's password form until it is done."""
    if (current_user.is_authenticated and getattr(current_user, "must_change_password", False)
            and request.endpoint not in _BEFORE_PASSWORD_CHANGE and not request.path.startswith("/api/")):
        flash(_("首次登录或密码被重置后，请先修改密码"), "warning")
        return redirect(url_for("profile.show"))
    return None


def init_sign_in(app: Flask, settings_: Settings) -> Limiter:
    """Flask-Login and Flask-Limiter on failed sign-ins, for this app (see sign_in_config for the settings)."""
    login_manager.init_app(app)
    accounts.dummy_hash()  # computed now, so even the first unknown name costs exactly one scrypt check
    # One limiter per app (its storage is per app); only failed attempts (401) use up an address's allowance.
    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    app.view_functions["auth.login"] = limiter.limit(
        settings_.login_rate_limit, methods=["POST"], deduct_when=lambda response: response.status_code == 401,
    )(login)
    app.extensions["rectiflow_limiter"] = limiter
    app.before_request(_require_password_change)
    return limiter


def first_run_open() -> bool:
    """Whether the database still has no administrator (remembered once one exists: it never goes back)."""
    if current_app.extensions.get("rectiflow_has_admin"):
        return False
    with services().uow() as uow:
        found = first_run.has_admin(uow.session)
    current_app.extensions["rectiflow_has_admin"] = found
    return not found


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the inbox (an open redirect would let phishing borrow our login)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return landing_page()


def landing_page() -> str:
    """Where a signed-in user starts: leaders and supervisors on the 驾驶舱 (their approvals on top), others in the inbox."""
    if current_user.is_authenticated and current_user.has_role("leader", "supervisor"):
        return url_for("dashboard.index")
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and check a username and password."""
    if current_user.is_authenticated:
        return redirect(landing_page())
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        web_user = _check(username, password)
        if web_user is not None:
            # Not permanent: the cookie ends with the browser, and PERMANENT_SESSION_LIFETIME bounds it anyway.
            login_user(web_user, remember=request.form.get("remember") == "1")
            return redirect(safe_next(request.args.get("next")))
        # One answer for a wrong password, an unknown or inactive user and a locked account: nothing to enumerate.
        error = _("用户名或密码不正确。连续 %(failures)s 次失败后账号将被锁定 %(minutes)s 分钟，锁定期间无法登录。",
                  failures=settings().lockout_failures, minutes=settings().lockout_minutes)
    return login_page(error, username, 401 if error else 200)


def login_page(error: str | None = None, username: str = "", status: int = 200):
    """The sign-in page (with an error, if any), showing the identity provider's button when one is configured."""
    conf = settings()
    return render_template("auth/login.html", error=error, username=username, first_run=first_run_open(),
                           oidc=bool(conf.oidc_issuer), oidc_label=conf.oidc_label), status


def _check(username: str, password: str) -> WebUser | None:
    """The signed-in user for a right password of an unlocked account, else None (recording the failure)."""
    svc, conf = services(), settings()
    now = svc.clock.now()
    with svc.uow() as uow:
        result = accounts.sign_in(uow.session, username, password, now, max_failures=conf.lockout_failures,
                                  lockout=timedelta(minutes=conf.lockout_minutes))
        if result.locked_now is not None:
            locked = result.locked_now
            enqueue(uow.session, now, "account_locked",
                    {"name": locked.username, "until": locked.locked_until.isoformat(),
                     "reason": f"连续 {conf.lockout_failures} 次登录失败，账号已锁定 {conf.lockout_minutes} 分钟。"
                               f"如果不是您本人操作，请联系管理员并在解锁后修改密码。"},
                    user_id=locked.id)
        web_user = _web_user(result.user, int(time.time())) if result.user is not None else None
        uow.commit()
    return web_user


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (POST with a CSRF token): ends every session and remember cookie of this user."""
    with services().uow() as uow:
        user = uow.session.get(User, int(current_user.id))
        if user is not None:
            accounts.end_sessions(uow.session, user)
            uow.commit()
    logout_user()
    flash(_("已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
def home():
    """The inbox for signed-in users, the sign-in page for everyone else."""
    return redirect(landing_page() if current_user.is_authenticated else url_for("auth.login"))
