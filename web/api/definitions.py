"""Process definitions: list the deployed versions; deploy or validate a bundle (process designers; replacing a live
process: administrators); download each version's files; move running instances onto a new version
(administrators); start a process."""
from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote

from flask import Response, g
from flask.views import MethodView
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from engine.process import deployments
from engine.process import tasklist as queries
from engine.process.bundles import Bundle
from engine.process.migration import migrate
from web.api.auth import api_blueprint, services
from web.api.schemas import (
    ApiErrorSchema,
    DefinitionFileSchema,
    DefinitionSchema,
    DefinitionUploadArgs,
    DeployResultSchema,
    MigrationArgs,
    MigrationReportSchema,
    ProcessInstanceSchema,
    StartProcessArgs,
    ValidationReportSchema,
)
from web.bundle_uploads import bundle_from_files


class _FormAndFilesParser(FlaskParser):
    """`files` also reads the multipart form's text fields: the files, role_map and replace travel in one body."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


blp = api_blueprint("api_definitions", __name__, "Deployed BPMN process definitions")
blp.ARGUMENTS_PARSER = _FormAndFilesParser()
FORBIDDEN = {"description": "only process designers and administrators deploy, validate and download",
             "schema": ApiErrorSchema}
MEDIA_TYPES = {".bpmn": "application/xml", ".dmn": "application/xml", ".json": "application/json"}


def _bundle(args) -> Bundle:
    return bundle_from_files(args["file"])


@blp.route("/definitions")
class Definitions(MethodView):
    @blp.response(200, DefinitionSchema(many=True))
    def get(self):
        """Every deployed version, newest first per process."""
        with services().uow() as uow:
            return queries.definitions(uow.session)

    @blp.arguments(DefinitionUploadArgs, location="files", content_type="multipart/form-data")
    @blp.response(201, DeployResultSchema)
    @blp.alt_response(403, **FORBIDDEN)
    @blp.alt_response(422, description="the bundle is unreadable, a diagram in it is invalid, breaks what the "
                      "engine's own code relies on in that process (its contract), or replaces a live process without "
                      "`replace` by an administrator (`errors` lists every finding)", schema=ApiErrorSchema)
    def post(self, args):
        """Validate and deploy a bundle: each executable process becomes its next version (unchanged ones keep it).

        A process with running instances, or one the engine's own code relies on (the shipped processes), is
        replaced only with `replace=true` by an administrator; each version records a one-line change summary."""
        svc = services()
        bundle = _bundle(args)
        warnings = []
        definitions = svc.deploy_bundle(bundle, g.api_user_id, role_map=args["role_map"], replace=args["replace"],
                                        warnings=warnings)
        first = {name: getattr(definitions[0], name) for name in DefinitionSchema().fields}
        return SimpleNamespace(**first, definitions=definitions, findings=[f.as_dict() for f in warnings])


@blp.route("/definitions/validate", methods=["POST"])
@blp.arguments(DefinitionUploadArgs, location="files", content_type="multipart/form-data")
@blp.response(200, ValidationReportSchema)
@blp.alt_response(403, **FORBIDDEN)
@blp.alt_response(422, description="the upload is not a readable bundle (a bad zip, a path outside it, too large)",
                  schema=ApiErrorSchema)
def validate_bundle(args):
    """What deploying this bundle would say, without deploying: every finding and the processes it found."""
    report = services().validate_bundle(_bundle(args), g.api_user_id, args["role_map"])
    return {
        "ok": not report.errors,
        "findings": [f.as_dict() for f in report.findings],
        "processes": [{"key": d.process_id, "name": d.name, "filename": d.filename, "user_tasks": list(d.task_meta),
                       "forms": sorted(d.forms), "callees": d.callees} for d in report.diagrams],
        "files": list(report.files),
    }


@blp.route("/definitions/<int:definition_id>/files")
@blp.response(200, DefinitionFileSchema(many=True))
@blp.alt_response(403, **FORBIDDEN)
@blp.alt_response(404, description="no such definition", schema=ApiErrorSchema)
def definition_files(definition_id: int):
    """The files this version was deployed with (its whole bundle: diagrams, decision tables, forms)."""
    svc = services()
    with svc.uow() as uow:
        svc.require_designer(uow.session, g.api_user_id)
        return deployments.file_list(uow.session, definition_id)


@blp.route("/definitions/<int:definition_id>/files/<path:name>")
@blp.response(200, description="the file as deployed", content_type="application/octet-stream")
@blp.alt_response(403, **FORBIDDEN)
@blp.alt_response(404, description="no such definition, or it has no file of this name", schema=ApiErrorSchema)
def definition_file(definition_id: int, name: str):
    """Download one file of a deployed version, byte for byte as it was deployed."""
    svc = services()
    with svc.uow() as uow:
        svc.require_designer(uow.session, g.api_user_id)
        content = deployments.file_content(uow.session, definition_id, name)
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    response = Response(content, mimetype=MEDIA_TYPES.get(suffix, "application/octet-stream"))
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name.rsplit('/', 1)[-1])}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


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
@blp.alt_response(422, description="the start form's data is invalid, the process could not start, or it is "
                  "subject-owned (hazards, campaigns, self-checks, patrols: `errors[0].field` is `key` and the "
                  "message names the page and route that start it)", schema=ApiErrorSchema)
def start_process(args):
    """Start the latest version of a deployed process; its first user tasks appear in their inboxes.

    The processes a subject owns (a registered contract: hazard_rectification, campaign, unit_self_check, patrol)
    are not started by key: they start through their own pages and routes, which the 422 names."""
    # The instance comes back with its definition loaded (sessions keep attributes after commit).
    return services().start_process(args["key"], g.api_user_id, args["data"], args["business_key"])
