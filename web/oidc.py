"""Sign-in through a school's identity system (OpenID Connect), with Authlib doing the protocol.

Authlib keeps the state and the nonce in the Flask session, exchanges the code and validates the ID token (its
signature against the provider's JWKS, issuer, audience, expiry, nonce). This module only maps the claims to a user:
the 工号 claim first, then an e-mail the provider marked verified (RECTIFLOW_OIDC_MATCH picks which), and, with
RECTIFLOW_OIDC_JIT_ORG, creates an unknown user just in time. The signed-in session is the one a password starts
(web/auth.start_session), so logout, session versions and the inactive check work alike. Off, and these routes
absent, while RECTIFLOW_OIDC_ISSUER is empty.
"""
from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_limiter import Limiter
from joserfc.errors import JoseError

from engine.admin import people
from engine.infra.config import Settings
from engine.infra.errors import InvalidFormData
from engine.org import accounts
from web.auth import login_page, safe_next, services, settings, start_session

bp = Blueprint("oidc", __name__)
log = logging.getLogger(__name__)
PROVIDER = "school"  # Authlib's name for the one registered provider (its session keys carry it)
_NEXT = "oidc_next"


def init_oidc(app: Flask, settings_: Settings, limiter: Limiter) -> None:
    """Register the provider and the routes when an issuer is configured (nothing at all otherwise)."""
    if not settings_.oidc_issuer:
        return
    oauth = OAuth(app)
    app.extensions["rectiflow_oauth"] = oauth
    oauth.register(PROVIDER, client_id=settings_.oidc_client_id, client_secret=settings_.oidc_client_secret,
                   server_metadata_url=settings_.oidc_issuer + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid email profile"})
    app.register_blueprint(bp)
    # Refused callbacks (403) use up the same per-address allowance as wrong passwords.
    app.view_functions["oidc.callback"] = limiter.limit(
        settings_.login_rate_limit, deduct_when=lambda response: response.status_code == 403,
    )(callback)


def _provider():
    return current_app.extensions["rectiflow_oauth"].create_client(PROVIDER)


@bp.route("/login/oidc")
def start():
    """Send the browser to the identity provider (Authlib adds and remembers the state and the nonce)."""
    session[_NEXT] = safe_next(request.args.get("next"))
    try:
        return _provider().authorize_redirect(url_for("oidc.callback", _external=True))
    except (requests.RequestException, ValueError) as exc:  # discovery document unreachable or not JSON
        log.warning("OIDC discovery failed: %s", exc)
        return login_page(_("统一身份认证服务暂时无法访问，请稍后再试或使用密码登录。"), status=502)


@bp.route("/login/oidc/callback")
def callback():
    """The provider's answer: check it, find (or create) the user, and sign them in like a password would."""
    try:
        token = _provider().authorize_access_token()
    except (OAuthError, JoseError) as exc:  # bad or replayed state, provider error, invalid ID token
        log.warning("OIDC sign-in refused: %s", exc)
        return login_page(_("统一身份认证登录失败：认证结果无效或已过期，请重新登录。"), status=403)
    except (requests.RequestException, ValueError) as exc:
        log.warning("OIDC token exchange failed: %s", exc)
        return login_page(_("统一身份认证服务暂时无法访问，请稍后再试或使用密码登录。"), status=502)
    claims = token.get("userinfo")
    if not claims:  # no ID token: nothing was vouched for
        return login_page(_("统一身份认证登录失败：认证结果无效或已过期，请重新登录。"), status=403)
    return _sign_in(claims)


def _trusted(claims, conf: Settings) -> tuple[str | None, str | None]:
    """The 工号 and e-mail to match by: only those RECTIFLOW_OIDC_MATCH names, the e-mail only when verified."""
    employee_no = claims.get(conf.oidc_employee_claim) if "employee_no" in conf.oidc_match else None
    email = claims.get("email") if "email" in conf.oidc_match and claims.get("email_verified") is True else None
    return _text(employee_no), _text(email)


def _text(value) -> str | None:
    return str(value).strip() or None if value not in (None, "") else None


def _sign_in(claims):
    conf = settings()
    employee_no, email = _trusted(claims, conf)
    if employee_no is None and email is None:
        return login_page(_("统一身份认证未提供工号或已验证的邮箱，无法确定您的账号，请联系管理员。"), status=403)
    error = _find_or_create(claims, conf, employee_no, email)
    if error is not None:  # drawn after the unit of work ended: the page reads the database too
        return login_page(error, status=403)
    return redirect(session.pop(_NEXT, None) or url_for("inbox.index"))


def _find_or_create(claims, conf: Settings, employee_no: str | None, email: str | None) -> str | None:
    """Sign the vouched-for user in (created just in time if so configured); the refusal message otherwise."""
    svc = services()
    now = svc.clock.now()
    with svc.uow() as uow:
        found = accounts.sign_in_external(uow.session, now, employee_no=employee_no, email=email)
        user = found.user
        if found.refused == "unknown" and conf.oidc_jit_org:
            username = employee_no or email
            try:
                user = people.create_vouched_user(uow.session, now, org_code=conf.oidc_jit_org, username=username,
                                                  display_name=str(claims.get("name") or username)[:100],
                                                  employee_no=employee_no, email=email)
            except InvalidFormData as exc:  # the name is taken, or the configured unit does not exist
                log.warning("OIDC just-in-time user %r not created: %s", username, exc)
                return _("无法为您自动创建账号，请联系管理员。")
        if user is None:
            return _refusal(found.refused)
        uow.commit()
        start_session(user)
    return None


def _refusal(reason: str | None) -> str:
    if reason == "inactive":
        return _("您的账号已停用，请联系管理员。")
    if reason == "locked":
        return _("您的账号因多次密码错误已被临时锁定，请稍后再试。")
    if reason == "ambiguous":
        return _("该邮箱对应多个账号，无法确定您的身份，请联系管理员。")
    return _("系统中没有与您的统一身份认证账号对应的用户，请联系管理员开通。")
