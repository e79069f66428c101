"""Sign-in and sign-out with Flask-Login; the signed-in user as the engine sees it."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.org import accounts
from engine.org.models import User
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


def _web_user(user: User) -> WebUser:
    return WebUser(id=user.id, username=user.username, display_name=user.display_name, org_id=user.org_id,
                   locale=user.locale or "zh_CN", grants=tuple((g.role, g.org_id) for g in user.grants))


@login_manager.user_loader
def load_user(user_id: str) -> WebUser | None:
    """Flask-Login's loader: the session's user, or None once they are deactivated."""
    with services().uow() as uow:
        user = uow.session.get(User, int(user_id))
        if user is None or not user.active:
            return None
        return _web_user(user)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and check a username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with services().uow() as uow:
            user = uow.session.scalars(select(User).where(User.username == username)).first()
            ok = user is not None and user.active and accounts.check_password(user.password_hash, password)
            web_user = _web_user(user) if ok else None
        if web_user is not None:
            login_user(web_user, remember=bool(request.form.get("remember")))
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
        error = _("用户名或密码不正确")
    return render_template("auth/login.html", error=error, username=username), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (POST with a CSRF token, so a link elsewhere cannot sign anyone out)."""
    logout_user()
    flash(_("已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
def home():
    """The inbox for signed-in users, the sign-in page for everyone else."""
    return redirect(url_for("inbox.index" if current_user.is_authenticated else "auth.login"))
