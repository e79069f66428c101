"""Hazards: report, scoped list, one with its timeline; evidence and comments; the ledger as Excel."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response, g
from flask.views import MethodView
from sqlalchemy import select

from engine.infra.errors import InvalidFormData, NotFound
from engine.infra.timezone import CHINA
from engine.org import scope as org_scope
from engine.org.models import OrgNode
from engine.process.lifecycle import TaskState
from engine.process.models import HumanTask
from engine.rectification import attachments, comments, ledger, visibility
from engine.rectification import inbox as hazard_inbox
from engine.rectification.hazards import report_hazard
from engine.rectification.models import Hazard
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import (
    ApiErrorSchema,
    AttachmentSchema,
    CommentArgs,
    CommentSchema,
    HazardDetailSchema,
    HazardListArgs,
    HazardPageSchema,
    HazardReportArgs,
    HazardSchema,
    LedgerArgs,
    UploadArgs,
    UploadQueryArgs,
)

blp = api_blueprint("api_hazards", __name__, "Hazards, their evidence, comments and the ledger")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _load_for_dump(hazard):
    hazard.unit  # noqa: B018  (loaded now: the response is written after the session closes)
    return hazard


@blp.route("/hazards")
class Hazards(MethodView):
    @blp.arguments(HazardListArgs, location="query")
    @blp.response(200, HazardPageSchema)
    def get(self, args):
        """Hazards in the caller's organisation scope, newest first, filtered and paginated."""
        page, per_page = args.pop("page"), args.pop("per_page")
        text, sort = args.pop("q", None), args.pop("sort")
        svc = services()
        overdue_at = svc.clock.now() if args.pop("overdue", False) else None
        open_only = args.pop("open", False)
        with svc.uow() as uow:
            s = uow.session
            return visibility.list_hazards(s, api_user(s), args, page, per_page, text=text, overdue_at=overdue_at,
                                           open_only=open_only, sort=sort)

    @blp.arguments(HazardReportArgs)
    @blp.response(201, HazardSchema)
    @blp.alt_response(404, description="`school_id` names no school in the caller's scope", schema=ApiErrorSchema)
    @blp.alt_response(422, description="invalid report; `errors` names each field", schema=ApiErrorSchema)
    def post(self, args):
        """Report a hazard and start its rectification process (the report form's JSON Schema applies)."""
        svc = services()
        school_id = args.pop("school_id", None)
        hazard = report_hazard(svc, g.api_user_id, args, school_id=school_id)
        with svc.uow() as uow:
            return _load_for_dump(uow.session.get(Hazard, hazard.id))


@blp.route("/hazards/<int:hazard_id>")
@blp.response(200, HazardDetailSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def hazard_detail(hazard_id: int):
    """One hazard with its full timeline (every event, oldest first) and its open tasks."""
    with services().uow() as uow:
        s = uow.session
        hazard = _load_for_dump(visibility.get_visible_hazard(s, api_user(s), hazard_id))
        hazard_timeline = [
            {"id": e.id, "kind": e.kind, "occurred_at": e.occurred_at, "actor_id": e.actor_id, "actor": name,
             "task_id": e.task_id, "data": e.data or {}}
            for e, name in hazard_inbox.hazard_timeline(s, hazard_id)
        ]
        open_tasks = list(s.scalars(select(HumanTask).where(HumanTask.hazard_id == hazard_id,
                                                            HumanTask.state == TaskState.READY).order_by(HumanTask.id)))
        return {**{f: getattr(hazard, f) for f in HazardSchema().fields}, "timeline": hazard_timeline,
                "open_tasks": open_tasks}


@blp.route("/hazards/<int:hazard_id>/attachments")
class Attachments(MethodView):
    @blp.response(200, AttachmentSchema(many=True))
    def get(self, hazard_id: int):
        """The hazard's evidence files (metadata; download each from /attachments/{id}/content)."""
        with services().uow() as uow:
            s = uow.session
            return attachments.list_attachments(s, api_user(s), hazard_id)

    @blp.arguments(UploadArgs, location="files")
    @blp.arguments(UploadQueryArgs, location="query")
    @blp.response(201, AttachmentSchema)
    @blp.alt_response(422, description="too large, empty or of a type not accepted", schema=ApiErrorSchema)
    def post(self, files, query, hazard_id: int):
        """Upload one evidence file (JPEG, PNG, WebP, PDF, DOCX, XLSX or plain text; type read from the bytes)."""
        upload = files["file"]
        svc = services()
        store = attachments.store_for(svc)
        # Read one byte past the limit: enough to refuse without holding an arbitrarily large body.
        data = upload.stream.read(store.max_bytes + 1)
        return attachments.add_attachment(svc, g.api_user_id, hazard_id, filename=upload.filename or "upload",
                                          content_type=upload.mimetype, data=data, task_id=query.get("task_id"),
                                          store=store)


@blp.route("/attachments/<int:attachment_id>/content")
@blp.response(200, description="the file's bytes, with its sniffed content type")
@blp.alt_response(404, schema=ApiErrorSchema)
def attachment_content(attachment_id: int):
    """Download one evidence file (only for those who may see its hazard)."""
    item, data = attachments.get_attachment_for(services(), g.api_user_id, attachment_id)
    response = Response(data, mimetype=item.content_type)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(item.filename)}"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/hazards/<int:hazard_id>/comments")
class Comments(MethodView):
    @blp.response(200, CommentSchema(many=True))
    def get(self, hazard_id: int):
        """The hazard's comments, oldest first."""
        with services().uow() as uow:
            s = uow.session
            return comments.list_comments(s, api_user(s), hazard_id)

    @blp.arguments(CommentArgs)
    @blp.response(201, CommentSchema)
    def post(self, args, hazard_id: int):
        """Comment on a hazard (optionally on one of its tasks)."""
        return comments.add_comment(services(), g.api_user_id, hazard_id, args["body"], task_id=args.get("task_id"))


@blp.route("/ledger.xlsx")
@blp.arguments(LedgerArgs, location="query")
@blp.response(200, description="安全隐患自查整改清单 (seed 002, attachment 2) as .xlsx",
              content_type=XLSX)
@blp.alt_response(404, schema=ApiErrorSchema)
def ledger_xlsx(args):
    """The hazard ledger of a unit (or a school) as Excel, in the seed's layout, filtered."""
    svc = services()
    org_id = args.pop("unit_id")
    if args.get("date_from") and args.get("date_to") and args["date_from"] > args["date_to"]:
        raise InvalidFormData("date_from is after date_to", [{"field": "date_from", "message": "after date_to"}])
    with svc.uow() as uow:
        s = uow.session
        user = api_user(s)
        if not org_scope.can_view_org(s, user, org_id):
            raise NotFound(f"organisation {org_id} does not exist")
        today = svc.clock.now().astimezone(CHINA).date()
        data = ledger.ledger_workbook(s, org_id, made_on=today, reporter=user.display_name,
                                     contact=user.phone, viewer=user, **args)
        org_name = s.get(OrgNode, org_id).name
    filename = f"安全隐患自查整改清单_{org_name}_{today.isoformat()}.xlsx"
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response
