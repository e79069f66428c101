"""Process definitions: list the deployed versions; deploy a BPMN file (process designers; replacing a live process:
administrators); move running instances onto a new version (administrators); start a process."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from engine.process import tasklist as queries
from engine.process.migration import migrate
from web.api.auth import api_blueprint, services
from web.api.schemas import (
    ApiErrorSchema,
    DefinitionSchema,
    DefinitionUploadArgs,
    MigrationArgs,
    MigrationReportSchema,
    ProcessInstanceSchema,
    StartProcessArgs,
)


class _FormAndFilesParser(FlaskParser):
    """The `files` location also reads the multipart form's text fields (`replace`), so the upload is one body."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


blp = api_blueprint("api_definitions", __name__, "Deployed BPMN process definitions")
blp.ARGUMENTS_PARSER = _FormAndFilesParser()


@blp.route("/definitions")
class Definitions(MethodView):
    @blp.response(200, DefinitionSchema(many=True))
    def get(self):
        """Every deployed version, newest first per process."""
        with services().uow() as uow:
            return queries.definitions(uow.session)

    @blp.arguments(DefinitionUploadArgs, location="files", content_type="multipart/form-data")
    @blp.response(201, DefinitionSchema)
    @blp.alt_response(403, description="only process designers and administrators deploy", schema=ApiErrorSchema)
    @blp.alt_response(422, description="the diagram is invalid, breaks what the engine's own code relies on in "
                      "that process (its contract), or replaces a live process without `replace` by an administrator",
                      schema=ApiErrorSchema)
    def post(self, files):
        """Validate and deploy a BPMN file as the next version of its process (an unchanged file keeps its version).

        A process with running instances, or one the engine's own code relies on (the shipped processes), is
        replaced only with `replace=true` by an administrator; the version records a one-line change summary."""
        upload = files["file"]
        return services().deploy_definition(upload.read(), upload.filename or "upload.bpmn", g.api_user_id,
                                            replace=files["replace"])


@blp.route("/definitions/<int:definition_id>/migration", methods=["POST"])
@blp.arguments(MigrationArgs, location="query")
@blp.response(200, MigrationReportSchema)
@blp.alt_response(403, description="administrators only", schema=ApiErrorSchema)
@blp.alt_response(404, description="no such definition, or no version before it", schema=ApiErrorSchema)
def migrate_instances(args, definition_id):
    """Move the running instances of the previous version onto this one where SpiffWorkflow's diff says it is safe.

    With `dry_run=true` (the default) nothing moves: the report says, per instance, whether it can move or why not.
    `from_version` picks an older version to move from."""
    return migrate(services(), definition_id, g.api_user_id, dry_run=args["dry_run"],
                   from_version=args["from_version"])


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
