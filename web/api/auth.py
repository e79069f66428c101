"""Who is calling the API: a bearer token (scripts) or the Flask-Login session (the browser, with a CSRF header)."""
from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from engine.infra.errors import NotAllowed, PasswordChangeRequired, RectiflowError
from engine.org import accounts, tokens
from engine.org.models import User
from engine.process.services import Services
from web.api.errors import (
    HTTP_CODES,
    error_response,
    handle_engine_error,
    handle_http_error,
)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def services() -> Services:
    """The engine services built once by create_app."""
    return current_app.extensions["rectiflow"]


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _session_user():
    from flask_login import current_user

    if not hasattr(current_app, "login_manager"):  # an app without browser sign-in: tokens only
        return None
    return current_user if current_user.is_authenticated else None


def _check_session_csrf() -> None:
    # A session cookie is sent by the browser on its own, so writes must prove they come from our pages.
    if request.method not in UNSAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    csrf = current_app.extensions.get("csrf")
    if csrf is None:
        return
    csrf.protect()


def authenticate():
    """before_request of every API blueprint: resolve the caller or answer 401."""
    token = _bearer()
    if token is not None:
        try:
            g.api_user_id = tokens.verify_token(services(), token)
        except PasswordChangeRequired as exc:
            return error_response(403, exc.code, exc.message)
        except NotAllowed as exc:
            return error_response(401, "unauthenticated", exc.message)
        g.api_auth = "token"
        return None
    user = _session_user()
    if user is None:
        return error_response(401, "unauthenticated", "sign in, or send Authorization: Bearer <token>")
    if getattr(user, "must_change_password", False):  # as the pages do: only the password change until then
        return error_response(403, PasswordChangeRequired.code, "choose a new password on the profile page first")
    g.api_user_id, g.api_auth = int(user.id), "session"
    _check_session_csrf()
    return None


def api_user(session: Session) -> User:
    """The calling user's row in this session."""
    return accounts.get_user(session, g.api_user_id)


def api_blueprint(name: str, import_name: str, description: str) -> Blueprint:
    """A flask-smorest blueprint with the API's authentication and JSON error handling."""
    blp = Blueprint(name, import_name, description=description)
    blp.before_request(authenticate)
    blp.register_error_handler(RectiflowError, handle_engine_error)
    blp.register_error_handler(HTTPException, handle_http_error)
    # Flask consults handlers registered for a status code (the pages' HTML 400/403/404/413) before handlers
    # registered for a class, so the API claims those codes for its own blueprints.
    for status in HTTP_CODES:
        blp.register_error_handler(status, handle_http_error)
    return blp


def exempt_from_form_csrf(app: Flask, blp: Blueprint) -> None:
    """Let API requests past Flask-WTF's form check; authenticate() applies the header check to sessions."""
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(blp)
