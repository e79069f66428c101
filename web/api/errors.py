"""Every API error is JSON {"code", "message", "errors"?} with the status its cause deserves."""
from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound

from engine.infra.errors import (
    ConcurrentUpdate,
    Conflict,
    InvalidDiagram,
    InvalidFormData,
    NotAllowed,
    NotFound,
    RectiflowError,
    ScriptNotAllowed,
    StaleTask,
    TaskAlreadyClaimed,
    WorkflowFailed,
)

STATUS = (
    (NotFound, 404),
    (NotAllowed, 403),
    ((TaskAlreadyClaimed, StaleTask, ConcurrentUpdate, Conflict), 409),
    # The process could not move on with this input (a script or condition failed on the data): nothing was
    # stored, the task stays open, and the message names the element. An answer for the caller, not a crash.
    ((InvalidFormData, InvalidDiagram, ScriptNotAllowed, WorkflowFailed), 422),
)
HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "not_allowed", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              422: "invalid_form_data", 429: "too_many_requests", 500: "server_error", 503: "service_unavailable"}


def error_response(status: int, code: str, message: str, errors: list | None = None):
    """A JSON error body and its status."""
    body = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return jsonify(body), status


def status_of(exc: RectiflowError) -> int:
    """The HTTP status of an engine error."""
    for kinds, status in STATUS:
        if isinstance(exc, kinds):
            return status
    return 400


def handle_engine_error(exc: RectiflowError):
    """Map a named engine refusal to its status."""
    return error_response(status_of(exc), exc.code, exc.message, getattr(exc, "errors", None))


def _flatten(messages, prefix: str = "") -> list[dict]:
    """webargs' nested {"json": {"field": ["msg"]}} as [{"field": "field", "message": "msg"}]."""
    flat = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            # The top level names where the value came from (json, query, files, form), not a field.
            inner = "" if not prefix and key in ("json", "query", "files", "form", "headers") else str(key)
            flat += _flatten(value, f"{prefix}/{inner}".strip("/") if inner else prefix)
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            flat += _flatten(item, prefix) if isinstance(item, (dict, list)) else [
                {"field": prefix, "message": str(item)}]
    else:
        flat.append({"field": prefix, "message": str(messages)})
    return flat


def handle_http_error(exc: HTTPException):
    """abort(), request validation and routing errors inside the API, as JSON (a 405 says what is `Allow`ed)."""
    data = getattr(exc, "data", None) or {}
    status = exc.code or 500
    code = HTTP_CODES.get(status, "error")
    if "messages" in data or "errors" in data:
        errors = _flatten(data.get("errors") or data.get("messages"))
        fields = ", ".join(e["field"] for e in errors if e["field"]) or "request"
        return error_response(status, code, data.get("message") or f"invalid input: {fields}", errors)
    if isinstance(exc, RouteNotFound) and request.url_rule is None:
        return error_response(404, code, f"no such API endpoint: /{request.path.split('/', 3)[-1]}")
    response = error_response(status, code, data.get("message") or exc.description or exc.name)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response[0].headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def register_error_handlers(app: Flask, prefix: str) -> None:
    """JSON errors for API paths; everything else keeps the app's own error pages."""

    def on_http_error(exc: HTTPException):
        if request.path.startswith(prefix + "/"):
            return handle_http_error(exc)
        return exc

    app.register_error_handler(HTTPException, on_http_error)
