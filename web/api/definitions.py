"""Process definitions: list the deployed versions; deploy a BPMN file (process designers only)."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from engine.process import tasklist as queries
from web.api.auth import api_blueprint, services
from web.api.schemas import ApiErrorSchema, DefinitionSchema, DefinitionUploadArgs

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
