"""The REST API under /api/v1 (flask-smorest), one blueprint per subject; OpenAPI at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from web.api import (
    campaigns,
    definitions,
    hazards,
    incidents,
    instances,
    look_back,
    messages,
    notices,
    outbox,
    schedules,
    statistics,
    tasks,
)
from web.api.auth import exempt_from_form_csrf
from web.api.errors import error_response, register_error_handlers
from web.api.schemas import ApiErrorSchema

PREFIX = "/api/v1"


class RectiflowApi(Api):
    """flask-smorest's Api without its app-wide HTTPException handler: the pages keep their HTML error pages."""

    ERROR_SCHEMA = ApiErrorSchema

    def _register_error_handlers(self):
        register_error_handlers(self._app, PREFIX)


def init_api(app: Flask) -> Api:
    """Register the API blueprints, their auth and error handling, and the generated OpenAPI document."""

    app.config.update(
        API_TITLE="Rectiflow API",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = RectiflowApi(app, spec_kwargs={
        "info": {"description": "隐患排查整治 (campus safety-hazard rectification) REST API. Authenticate with "
                                "`Authorization: Bearer <token>` (`rectiflow token create --user NAME`; tokens "
                                "expire after 90 days unless `--expires-in-days` says otherwise, then answer 401) "
                                "or a browser session plus the X-CSRFToken header on writes. Every answer carries "
                                "`Cache-Control: no-store`; while the database cannot be reached, any operation "
                                "answers 503 `service_unavailable` with `Retry-After`."},
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme("sessionCookie", {"type": "apiKey", "in": "cookie", "name": "session"})
    for module in (tasks, hazards, definitions, instances, campaigns, notices, statistics, schedules, look_back,
                   incidents, messages, outbox):
        api.register_blueprint(module.blp, url_prefix=PREFIX)
        exempt_from_form_csrf(app, module.blp)
    # Unknown API paths answer in JSON too, not with the pages' HTML 404.
    app.add_url_rule(f"{PREFIX}/<path:rest>", "api_not_found", _not_found,
                     methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    if app.extensions.get("csrf") is not None:
        app.extensions["csrf"].exempt(_not_found)
    return api


def _not_found(rest: str):
    return error_response(404, "not_found", f"no such API endpoint: /{rest}")
