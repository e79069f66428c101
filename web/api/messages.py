"""BPMN messages sent from outside: start a process by its message start event, or reach the instances waiting."""
from __future__ import annotations

import marshmallow as ma
from flask import g

from web.api.auth import api_blueprint, services
from web.api.schemas import ApiErrorSchema, Strict

blp = api_blueprint("api_messages", __name__, "BPMN messages sent from outside the engine")


class SendMessageArgs(Strict):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100),
                            metadata={"description": "the BPMN message name (bpmn:message/@name)"})
    correlation = ma.fields.Dict(load_default=None, allow_none=True, metadata={
        "description": "{correlationKey: {property: value}}, or {property: value}; omitted: read from the payload "
                       "with the diagram's correlationPropertyRetrievalExpression"})
    payload = ma.fields.Dict(load_default=dict, metadata={"description": "the message's data"})


class MessageResultSchema(ma.Schema):
    message_id = ma.fields.Integer()
    name = ma.fields.String()
    correlation = ma.fields.Dict(metadata={"description": "the correlation it was routed by"})
    status = ma.fields.String(metadata={"description": "started, delivered, or pending (deferred delivery)"})
    started_instance_ids = ma.fields.List(ma.fields.Integer())
    delivered_instance_ids = ma.fields.List(ma.fields.Integer())


@blp.route("/messages", methods=["POST"])
@blp.arguments(SendMessageArgs)
@blp.response(200, MessageResultSchema)
@blp.alt_response(403, description="your roles may not send to the process that catches it (`messageSenderRoles`)",
                  schema=ApiErrorSchema)
@blp.alt_response(404, description="no process starts with this message and no instance waits for it "
                                   "with this correlation", schema=ApiErrorSchema)
@blp.alt_response(422, description="invalid input, or the receiving process could not continue",
                  schema=ApiErrorSchema)
def send_message(args):
    """Send a BPMN message: a message start event starts a new instance, a waiting catch event or receive task with
    the same correlation receives it. The answer lists the instances started or reached."""
    return services().send_message(args["name"], args["correlation"], args["payload"], g.api_user_id)
