"""marshmallow schemas of the incidents API: failed process steps, their retry, an administrator's data fix."""
from __future__ import annotations

import marshmallow as ma

from web.api.schemas import Strict

INCIDENT_STATUSES = ("open", "resolved", "all")


class IncidentListArgs(Strict):
    status = ma.fields.String(load_default="open", validate=ma.validate.OneOf(INCIDENT_STATUSES))
    instance_id = ma.fields.Integer()
    before_id = ma.fields.Integer(metadata={"description": "keyset paging: incidents older than this id"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class IncidentSchema(ma.Schema):
    id = ma.fields.Integer()
    instance_id = ma.fields.Integer()
    process_key = ma.fields.Function(lambda i: i.instance.definition.key)
    process_name = ma.fields.Function(lambda i: i.instance.definition.name)
    business_key = ma.fields.Function(lambda i: i.instance.business_key)
    task_id = ma.fields.Integer(allow_none=True)
    message_id = ma.fields.Integer(allow_none=True)
    kind = ma.fields.String(metadata={"description": "task, timer, message or start"})
    element_id = ma.fields.String(allow_none=True)
    element_name = ma.fields.String(allow_none=True)
    variable = ma.fields.String(allow_none=True, metadata={"description": "the missing variable, when one was"})
    message = ma.fields.String()
    failures = ma.fields.Integer()
    status = ma.fields.String()
    created_at = ma.fields.DateTime()
    failed_at = ma.fields.DateTime()
    resolved_at = ma.fields.DateTime(allow_none=True)
    resolved_by_id = ma.fields.Integer(allow_none=True)


class VariablesPatchArgs(Strict):
    variables = ma.fields.Dict(keys=ma.fields.String(), load_default=dict,
                               metadata={"description": "variables to set (JSON values)"})
    remove = ma.fields.List(ma.fields.String(), load_default=list, metadata={"description": "variables to remove"})


class VariablesChangedSchema(ma.Schema):
    instance_id = ma.fields.Integer()
    set = ma.fields.List(ma.fields.String())
    removed = ma.fields.List(ma.fields.String())
