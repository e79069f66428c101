"""marshmallow schemas of the process-instance endpoints (web/api/instances.py)."""
from __future__ import annotations

import marshmallow as ma

from engine.process.lifecycle import InstanceState
from web.api.schemas import EventSchema, ProcessInstanceSchema, Strict, TaskSchema


class InstanceListArgs(Strict):
    key = ma.fields.String(metadata={"description": "only instances of this process (its key)"})
    definition_id = ma.fields.Integer(metadata={"description": "only instances of this deployed version"})
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in InstanceState]))
    after = ma.fields.Integer(metadata={"description": "keyset paging: the next_cursor of the previous page"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class SubjectSchema(ma.Schema):
    kind = ma.fields.String()
    id = ma.fields.Integer()
    title = ma.fields.String()


class InstanceInListSchema(ProcessInstanceSchema):
    key = ma.fields.String(metadata={"description": "the process (definition key)"})
    version = ma.fields.Integer()
    definition_id = ma.fields.Integer()
    process_name = ma.fields.String()
    starter = ma.fields.String(allow_none=True, metadata={"description": "who started it"})
    subject = ma.fields.Nested(SubjectSchema, allow_none=True,
                               metadata={"description": "the campaign (or other subject) it runs for"})
    updated_at = ma.fields.DateTime()


class InstancePageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(InstanceInListSchema))
    next_cursor = ma.fields.Integer(allow_none=True, metadata={"description": "pass as `after` for the next page"})


class InstanceDetailSchema(InstanceInListSchema):
    open_tasks = ma.fields.List(ma.fields.Nested(TaskSchema))
    history = ma.fields.List(ma.fields.Nested(EventSchema), metadata={"description": "every event, oldest first"})
    active = ma.fields.List(ma.fields.String(), metadata={"description": "BPMN ids of the nodes waiting now"})
    done = ma.fields.List(ma.fields.String(), metadata={"description": "BPMN ids of the nodes completed"})
    variables = ma.fields.Dict(allow_none=True, metadata={"description": "the process data (designers and "
                                                                        "administrators only; null for others)"})
    incidents = ma.fields.List(ma.fields.Dict(), allow_none=True,
                               metadata={"description": "runtime incidents; null where the schema has none"})
    can_cancel = ma.fields.Boolean(metadata={"description": "the caller may cancel it now"})
    cancel_reason = ma.fields.String(allow_none=True)


class CancelArgs(Strict):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500),
                              metadata={"description": "why it is stopped (recorded in its history)"})
