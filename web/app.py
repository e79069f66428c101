"""The Flask application factory: one set of services, blueprints by subject, sessions, CSRF, Babel, headers."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, render_template, request, session
from flask_babel import Babel
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.infra.clock import Clock
from engine.infra.config import Settings
from engine.infra.errors import NotAllowed, NotFound
from engine.infra.timezone import CHINA
from engine.process.services import Services
from engine.rectification.attachments import EvidenceStore
from web import auth, oidc
from web.api import PREFIX as API_PREFIX
from web.api import DatabaseIntConverter, init_api
from web.api.errors import handle_http_error
from web.composition import build_services
from web.outage import init_outage_pages
from web.static_files import init_static_files

# Page blueprints: campaigns also carries campaign_findings' routes; notices are 整改通知书, statistics the
# 隐患问题统计表, schedules the 巡查计划 (recurring inspections), drills the 应急演练与安全教育, deploy the designers' 流程部署,
# designer their 流程设计 (versions, running instances, diffs).
from web.pages import (
    admin,
    assessment,
    campaigns,
    dashboard,
    deploy,
    designer,
    drills,
    hazard_list,
    hazards,
    inbox,
    incidents,
    notices,
    notifications,
    outbox,
    processes,
    profile,
    schedules,
    setup,
    statistics,
    tasks,
)
from web.templating import DEFAULT_LOCALE, LOCALES, BadInput, init_templating

DEV_SECRET = Settings.secret_key
# Photos and documents are small; anything larger is refused before it reaches a view.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024

# 'unsafe-inline' for styles only: bpmn-js and htmx set style attributes; every script is a static file.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")

csrf = CSRFProtect()


def select_locale() -> str:
    """The language of this request: explicit choice in the session, the user's profile, else Chinese."""
    chosen = session.get("lang")
    if chosen in LOCALES:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in LOCALES:
        return current_user.locale
    return DEFAULT_LOCALE


def create_app(settings: Settings | None = None, services: Services | None = None, clock: Clock | None = None,
               config: dict | None = None) -> Flask:
    """Build the web app around one set of engine services (built here unless given)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_relative_config=False)
    app.url_map.converters["int"] = DatabaseIntConverter  # ids past the database's INTEGER range are a 404
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        BABEL_DEFAULT_LOCALE=DEFAULT_LOCALE,
        BABEL_DEFAULT_TIMEZONE=CHINA.key,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        RECTIFLOW_PRODUCTION=os.environ.get("RECTIFLOW_ENV") == "production",
    )
    app.config.update(auth.sign_in_config(settings, app.config["RECTIFLOW_PRODUCTION"]))
    app.config.update(config or {})
    services = services or build_services(settings, clock)
    if services.evidence_store is None:  # services built by a caller (tests) without a store
        services.evidence_store = EvidenceStore.from_settings(settings)
    app.extensions["rectiflow"] = services
    app.extensions["rectiflow_settings"] = settings

    csrf.init_app(app)
    Babel(app, locale_selector=select_locale, timezone_selector=lambda: CHINA.key)
    for module in (auth, inbox, tasks, hazards, hazard_list, profile, notifications, campaigns, notices, statistics, schedules,
                   processes, incidents, deploy, designer, outbox, admin, setup, assessment, dashboard, drills):
        app.register_blueprint(module.bp)
    limiter = auth.init_sign_in(app, settings)  # after the blueprints: it wraps the sign-in view in its rate limit
    oidc.init_oidc(app, settings, limiter)  # only when RECTIFLOW_OIDC_ISSUER is set
    init_templating(app)
    init_static_files(app)
    init_api(app)
    _register_error_pages(app)
    app.after_request(_security_headers)
    _validate_config(app)
    if settings.proxy_hops:  # the client's address (sign-in throttling) and scheme from the trusted proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    return app


def _register_error_pages(app: Flask) -> None:
    def page(status: int):
        """An error handler drawing the error page with this status (JSON in the API's error format under it)."""
        def handler(error):
            if request.path.startswith(API_PREFIX + "/") and isinstance(error, HTTPException):
                return handle_http_error(error)  # routing errors under /api/v1 (no such path, id out of range)
            headers = {}
            if isinstance(error, MethodNotAllowed) and error.valid_methods:
                headers["Allow"] = ", ".join(sorted(error.valid_methods))
            return render_template("error.html", status=status, message=_own_message(error)), status, headers
        return handler

    for status in (400, 403, 404, 405, 413, 429):  # 429: Flask-Limiter's sign-in limit (keeps its Retry-After)
        app.register_error_handler(status, page(status))
    app.register_error_handler(NotAllowed, page(403))
    app.register_error_handler(NotFound, page(404))
    app.register_error_handler(CSRFError, page(400))
    init_outage_pages(app)  # 503 + Retry-After while the database is down; the app's own 500 page


def _own_message(error) -> str | None:
    """What a page said when it refused bad input (web.templating.bad_input), never werkzeug's English default."""
    return error.description if isinstance(error, BadInput) else None


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith("/api/"):
        # API answers are personal and change with every write: no browser or proxy may keep one.
        if "no-store" not in response.headers.get("Cache-Control", ""):
            response.headers["Cache-Control"] = "no-store"
    elif request.path.startswith(("/tasks", "/hazards", "/inbox", "/ledger", "/attachments", "/profile", "/notices",
                                   "/campaigns", "/schedules", "/outbox", "/drills")):
        # Pages about hazards are personal and scoped: never kept by shared caches.
        response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def _validate_config(app: Flask) -> None:
    """Refuse to start with settings that would be unsafe or broken in production."""
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is empty: set RECTIFLOW_SECRET_KEY")
    if app.config.get("RECTIFLOW_PRODUCTION") and app.config["SECRET_KEY"] == DEV_SECRET:
        raise RuntimeError("the development SECRET_KEY must not be used in production: set RECTIFLOW_SECRET_KEY")
    if not (Path(app.config["BABEL_TRANSLATION_DIRECTORIES"]) / "en" / "LC_MESSAGES" / "messages.mo").exists():
        raise RuntimeError("compiled translations are missing: run `make install` "
                           "(or `pybabel compile -d web/translations`)")
