"""The REST API under /api/v1 (flask-smorest), one blueprint per subject; OpenAPI at /api/v1/openapi.json."""
from __future__ import annotations

from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api
from werkzeug.routing import IntegerConverter

from web.api import (
    admin,
    assessment,
    campaigns,
    definitions,
    escalations,
    drills,
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
from web.api.errors import register_error_handlers
from web.api.schemas import MAX_INT, ApiErrorSchema

PREFIX = "/api/v1"


class DatabaseIntConverter(IntegerConverter):
    """`<int:...>` in every path (pages and API; web.app sets it before any route): 1 to the database's INTEGER maximum, so /hazards/2147483648 is a 404, not a 500.

    flask-smorest documents it from min/max (minimum 1, maximum 2147483647) as for werkzeug's own converter.
    """

    def __init__(self, map, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_INT)
        super().__init__(map, **kwargs)


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}


class CommonResponses(BasePlugin):
    """Document the answers every operation can give, besides what its own decorators say: 401 without valid
    credentials, 404 for an id in its path that does not exist (or is out of range), 400 for a body that is not
    the JSON it names. An operation's own description of a status wins."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            common = {401: "no valid credentials (bearer token or session)"}
            if "{" in (path or ""):
                common[404] = "no such object for an id in the path, or one outside the caller's scope"
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                common[400] = "the body is not valid JSON"
            for status, description in common.items():
                if status not in responses and str(status) not in responses:
                    responses[status] = _error(description)


class RectiflowApi(Api):
    """flask-smorest's Api without its app-wide HTTPException handler: the pages keep their HTML error pages."""

    ERROR_SCHEMA = ApiErrorSchema

    def _register_error_handlers(self):
        register_error_handlers(self._app, PREFIX)


def init_api(app: Flask) -> Api:
    """Register the API blueprints, their auth and error handling, and the generated OpenAPI document.

    Unknown API paths answer a JSON 404 and known ones asked with another method a JSON 405 with `Allow`
    (werkzeug's routing errors, drawn by web.api.errors.handle_http_error for every path under the prefix).
    """

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
        "extra_plugins": [CommonResponses()],
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme("sessionCookie", {"type": "apiKey", "in": "cookie", "name": "session"})
    for module in (tasks, escalations, hazards, definitions, instances, campaigns, notices, statistics, schedules, look_back,
                   incidents, messages, outbox, admin, assessment, drills):
        api.register_blueprint(module.blp, url_prefix=PREFIX)
        exempt_from_form_csrf(app, module.blp)
    return api

