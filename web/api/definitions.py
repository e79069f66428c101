"""Process definitions: list the deployed versions; deploy a BPMN file (process designers only); start a process."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from engine.process import tasklist as queries
from web.api.auth import api_blueprint, services
from web.api.schemas import (
    ApiErrorSchema,
    DefinitionSchema,
    DefinitionUploadArgs,
    ProcessInstanceSchema,
    StartProcessArgs,
)

blp = api_blueprint("api_definitions", __name__, "Deployed BPMN process definitions")


@blp.route("/definitions")
class Definitions(MethodView):
    @blp.response(200, DefinitionSchema(many=True))
    def get(self):
        """Every deployed version, newest first per process."""
        with services().uow() as uow:
            return queries.definitions(uow.session)

    @blp.arguments(DefinitionUploadArgs, location="files")
    @blp.response(201, DefinitionSchema)
    @blp.alt_response(403, description="only process designers and administrators deploy", schema=ApiErrorSchema)
    @blp.alt_response(422, description="the diagram is invalid", schema=ApiErrorSchema)
    def post(self, files):
        """Validate and deploy a BPMN file as the next version of its process (an unchanged file keeps its version)."""
        upload = files["file"]
        return services().deploy_definition(upload.read(), upload.filename or "upload.bpmn", g.api_user_id)


@blp.route("/process-instances", methods=["POST"])
@blp.arguments(StartProcessArgs)
@blp.response(201, ProcessInstanceSchema)
@blp.alt_response(403, description="your roles may not start this process (`candidateStarterRoles`)",
                  schema=ApiErrorSchema)
@blp.alt_response(404, description="no process with this key is deployed", schema=ApiErrorSchema)
@blp.alt_response(422, description="the start form's data is invalid, or the process could not start",
                  schema=ApiErrorSchema)
def start_process(args):
    """Start the latest version of a deployed process; its first user tasks appear in their inboxes."""
    # The instance comes back with its definition loaded (sessions keep attributes after commit).
    return services().start_process(args["key"], g.api_user_id, args["data"], args["business_key"])
