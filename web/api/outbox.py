"""The notification outbox for administrators: rows delivery gave up on (with their error), and their retry."""
from __future__ import annotations

import marshmallow as ma
from flask import g

from engine.infra.errors import Conflict
from engine.process import delivery
from engine.process.models import OutboxMessage
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import ApiErrorSchema, Strict

blp = api_blueprint("api_outbox", __name__, "The notification outbox: failed deliveries and their retry "
                                            "(administrators, in the organisations they administer)")

MAX_ID = 2**31 - 1  # the id column's range


class OutboxListArgs(Strict):
    state = ma.fields.String(load_default="failed", validate=ma.validate.OneOf(delivery.OUTBOX_STATES + ("all",)),
                             metadata={"description": "only rows in this state (failed: delivery gave up)"})
    before_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID),
                                  metadata={"description": "keyset paging: rows older than this id"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class OutboxRowSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": "the event, e.g. task_overdue, task_escalated, digest"})
    channel = ma.fields.String(allow_none=True, metadata={
        "description": "inapp, email or webhook; none for an event not yet fanned out to its recipients"})
    status = ma.fields.String(metadata={"description": ", ".join(delivery.OUTBOX_STATES)})
    recipient_id = ma.fields.Integer(allow_none=True)
    recipient_role = ma.fields.String(allow_none=True)
    recipient_org_id = ma.fields.Integer(allow_none=True)
    attempts = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    sent_at = ma.fields.DateTime(allow_none=True)
    last_error = ma.fields.String(allow_none=True)


@blp.route("/outbox", methods=["GET"])
@blp.arguments(OutboxListArgs, location="query")
@blp.response(200, OutboxRowSchema(many=True))
@blp.alt_response(403, description="only administrators see the outbox", schema=ApiErrorSchema)
def list_rows(args):
    """Outbox rows in your organisations, newest first (default: the failed ones, with their last error)."""
    with services().uow() as uow:
        s = uow.session
        return delivery.list_outbox(s, None if args["state"] == "all" else args["state"], args["limit"],
                                    args.get("before_id"), user=api_user(s))


@blp.route("/outbox/<int(max=2147483647):message_id>/retry", methods=["POST"])
@blp.response(200, OutboxRowSchema)
@blp.alt_response(403, description="only administrators retry outbox rows", schema=ApiErrorSchema)
@blp.alt_response(404, description="no such outbox row in your organisations", schema=ApiErrorSchema)
@blp.alt_response(409, description="the row has not failed (nothing to retry)", schema=ApiErrorSchema)
def retry(message_id: int):
    """Queue a failed row again (attempts from zero, due now); the next delivery run sends it."""
    if not delivery.retry_failed(services(), message_id, g.api_user_id):
        raise Conflict(f"outbox message {message_id} has not failed; nothing to retry")
    with services().uow() as uow:
        return uow.session.get(OutboxMessage, message_id)
