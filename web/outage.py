"""When the database is down: 503 with Retry-After (the app's own page, or JSON under /api); the app's 500 page.

An outage is a connection that cannot be made or was lost (SQLAlchemy's OperationalError, InterfaceError, a
DBAPIError whose connection was invalidated, or a pool that has no connection to give). It is nobody's mistake
and goes away by itself, so the answer says "try again shortly" instead of "server error". A transaction the
database rolled back (deadlock, serialization failure: SQLSTATE class 40) is not an outage and stays a 500.

The outage page must not touch the database again: a signed-in user whose row could not be loaded is shown the
page as a visitor.
"""
from __future__ import annotations

import logging

from flask import Flask, g, render_template, request
from flask_login import AnonymousUserMixin
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import InternalServerError

from web.api.errors import error_response

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = 30


def is_outage(error: BaseException) -> bool:
    """True when `error` means the database cannot be reached, not that a statement was wrong."""
    if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection to give within its timeout
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, sa_exc.InterfaceError):
        return True
    if isinstance(error, sa_exc.OperationalError):
        sqlstate = getattr(error.orig, "sqlstate", None) or ""
        return not sqlstate.startswith("40")
    return False


def _outage(error: sa_exc.SQLAlchemyError):
    if not is_outage(error):
        raise error  # an ordinary failure: Flask logs it and answers with the 500 handler below
    log.warning("database unavailable: %s", error.__class__.__name__, exc_info=error)
    if request.path.startswith(API_PREFIX):
        response, status = error_response(503, "service_unavailable",
                                          "the database is unavailable; try again shortly")
    else:
        if "_login_user" not in g:  # loading the user needed the database: show the page to a visitor
            g._login_user = AnonymousUserMixin()
        response, status = render_template("error.html", status=503), 503
    return response, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _server_error(error):
    original = getattr(error, "original_exception", None) or error
    if is_outage(original):
        return _outage(original)
    if request.path.startswith(API_PREFIX):
        return error_response(500, "server_error", "internal server error")
    if "_login_user" not in g:
        g._login_user = AnonymousUserMixin()
    return render_template("error.html", status=500), 500


def init_outage_pages(app: Flask) -> None:
    """Register the 503 (database outage) and 500 handlers for pages and the API."""
    app.register_error_handler(sa_exc.DBAPIError, _outage)
    app.register_error_handler(sa_exc.TimeoutError, _outage)
    app.register_error_handler(InternalServerError, _server_error)
