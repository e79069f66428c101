"""Incidents: failed process steps in your scope, retry after a fix, and an administrator's fix of an instance's data."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from engine.process.incidents import list_incidents
from web.api.auth import api_blueprint, api_user, services
from web.api.incident_schemas import (
    IncidentListArgs,
    IncidentSchema,
    VariablesChangedSchema,
    VariablesPatchArgs,
)
from web.api.schemas import ApiErrorSchema

blp = api_blueprint("api_incidents", __name__, "Incidents: process steps that failed at run time, and their retry")


@blp.route("/incidents")
class Incidents(MethodView):
    @blp.arguments(IncidentListArgs, location="query")
    @blp.response(200, IncidentSchema(many=True))
    @blp.alt_response(403, description="only process designers and administrators see incidents",
                      schema=ApiErrorSchema)
    def get(self, args):
        """Incidents in your organisations (designers and administrators), newest first; `before_id` pages."""
        with services().uow() as uow:
            s = uow.session
            status = None if args["status"] == "all" else args["status"]
            rows = list_incidents(s, api_user(s), status, args.get("instance_id"), args["limit"], args.get("before_id"))
            for row in rows:  # the schema reads the instance and its definition after the session closes
                _ = row.instance.definition
            return rows


@blp.route("/incidents/<int:incident_id>/retry", methods=["POST"])
@blp.response(200, IncidentSchema)
@blp.alt_response(404, description="no such incident in your scope", schema=ApiErrorSchema)
@blp.alt_response(409, description="the incident is already resolved", schema=ApiErrorSchema)
@blp.alt_response(422, description="the step failed again; the message says why", schema=ApiErrorSchema)
def retry(incident_id: int):
    """Run the failed step again (a task's form is submitted again for its user; timers and engine steps re-run)."""
    incident = services().retry_incident(incident_id, g.api_user_id)
    with services().uow() as uow:
        incident = uow.session.merge(incident)
        _ = incident.instance.definition
        return incident


@blp.route("/process-instances/<int:instance_id>/variables", methods=["PATCH"])
@blp.arguments(VariablesPatchArgs)
@blp.response(200, VariablesChangedSchema)
@blp.alt_response(403, description="only administrators change an instance's data", schema=ApiErrorSchema)
@blp.alt_response(404, description="no such process instance in your scope", schema=ApiErrorSchema)
@blp.alt_response(409, description="the instance is no longer running", schema=ApiErrorSchema)
@blp.alt_response(422, description="a name is not a variable name, or a value cannot be stored",
                  schema=ApiErrorSchema)
def patch_variables(args, instance_id: int):
    """Set or remove variables of a running instance (administrators; audited), e.g. before retrying an incident."""
    services().set_instance_variables(instance_id, g.api_user_id, args["variables"], args["remove"])
    return {"instance_id": instance_id, "set": sorted(args["variables"]), "removed": sorted(args["remove"])}
