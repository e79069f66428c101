"""Campaigns (专项整治), look-backs (回头看) and checklists: scoped lists, coverage, answers, findings, 应发现未发现."""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Response, g
from flask.views import MethodView
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from engine.campaigns import checklists, coverage, supervision
from engine.campaigns import queries as cq
from engine.campaigns.checklists import ChecklistImportFailed, items_for_unit
from engine.campaigns.findings import (
    finding_unit_in_reach,
    may_report_finding,
    start_look_back,
)
from engine.campaigns.models import (
    ORGANISER_ROLES,
    Campaign,
    ChecklistItem,
    ChecklistTemplate,
)
from engine.campaigns.dashboard import openable_unit
from engine.campaigns.phase import process_phase
from engine.campaigns.self_check_report import self_check_report
from engine.campaigns.service import Campaigns, campaign_stage_keys, open_hazard_count
from engine.infra.errors import Conflict, InvalidFormData, NotAllowed
from engine.org import accounts
from engine.org import scope as org_scope
from engine.org.models import OrgNode, User
from engine.process.forms import validate_form_data
from engine.rectification.hazards import HAZARD_PROCESS
from engine.rectification.models import Hazard
from web.api.auth import api_blueprint, api_user, services
from web.api.campaign_schemas import (
    CampaignCreateArgs,
    CampaignDetailSchema,
    CampaignListArgs,
    CampaignPageSchema,
    ChecklistDetailSchema,
    ChecklistPageSchema,
    ChecklistUploadArgs,
    ExportArgs,
    FindingArgs,
    FindingSchema,
    LookBackCreateArgs,
    MissedArgs,
    MissedPageSchema,
    ReportArgs,
    ResultsArgs,
    ResultsSchema,
    SelfCheckReportSchema,
    UnitCoveragePageSchema,
    UnitItemsSchema,
    UnitListArgs,
)
from web.api.errors import error_response, handle_engine_error
from web.api.schemas import ApiErrorSchema, PageArgs
from web.self_check_pdf import pdf_response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIMETYPES = {"xlsx": XLSX, "csv": "text/csv"}
CHECKLIST_ROLES = {"security_office", "admin"}  # who imports checklist templates
RECORDER_ROLES_ABOVE = {"security_office", "admin"}  # may answer for a unit from above it
CONFLICT = {"description": "the unit's self-check is signed, or the campaign is closed", "schema": ApiErrorSchema}
NOT_FOUND = {"description": "not in the caller's organisation scope", "schema": ApiErrorSchema}


class _FormAndFilesParser(FlaskParser):
    """The `files` location also reads the multipart form's text fields, so an upload and its name are one body."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class SelfCheckSigned(Conflict):
    """Answers for a unit whose self-check is signed: the security office must send it back first."""

    code = "self_check_signed"


class CampaignClosed(Conflict):
    """Answers or findings for a campaign that has ended."""

    code = "campaign_closed"


blp = api_blueprint("api_campaigns", __name__, "Campaigns (专项整治), look-backs (回头看) and checklist templates")
blp.ARGUMENTS_PARSER = _FormAndFilesParser()


@blp.errorhandler(ChecklistImportFailed)
def _import_failed(exc: ChecklistImportFailed):
    # Every bad row with its line number, in the API's error shape (the rows are all in the uploaded file).
    return error_response(422, exc.code, exc.message,
                          [{"field": "file", "line": e["line"], "message": e["message"]} for e in exc.errors])


@blp.errorhandler(InvalidFormData)
def _invalid(exc: InvalidFormData):
    # The campaign engine names nested fields with dots ("stages.self_check.end"); the API uses slashes throughout.
    exc.errors = [dict(e, field=str(e.get("field") or "").replace(".", "/")) for e in exc.errors]
    return handle_engine_error(exc)


def _has_role(user: User, roles: set[str], org: OrgNode | None = None) -> bool:
    """A grant with one of these roles (at the org or above it, when an org is given)."""
    above = set(org.ancestor_ids()) if org is not None else None
    return any(gr.role in roles and (above is None or gr.org_id in above) for gr in user.grants)


def _campaign_dict(c: Campaign) -> dict:
    fields = ("id", "title", "kind", "org_id", "level", "template_id", "status", "stages", "sample", "sample_seed",
              "sample_filters", "instance_id", "created_at", "created_by_id")
    return {**{f: getattr(c, f) for f in fields}, "org": c.org, "template_name": c.template.name,
            "stage_list": campaign_stage_keys(c.stages), "supervised_by": c.supervised_by}


def _detail(campaign_id: int) -> dict:
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        campaign = cq.get_visible_campaign(s, org_scope.scope_of(s, api_user(s)), campaign_id)
        stage, tasks, _done = process_phase(s, campaign)
        figures = coverage.campaign_coverage(s, campaign.id)
        return {**_campaign_dict(campaign), "current_stage": stage,
                "open_tasks": tasks, "unit_tasks": cq.unit_task_counts(s, campaign.id), "coverage": figures,
                "open_hazards": open_hazard_count(s, campaign.id),
                "supervision_reports": [
                    {"id": r.id, "unit_id": r.unit_id, "unit": unit, "supervisor_org_id": r.supervisor_org_id,
                     "supervisor": supervisor, "report": r.report, "participants": r.participants,
                     "sampled": r.sampled, "at": r.at}
                    for r, unit, supervisor in supervision.campaign_reports(s, campaign.id)],
                "uncovered_items": coverage.uncovered_items(s, campaign.id)}


def _field_error(field: str, message: str) -> InvalidFormData:
    return InvalidFormData(f"{field}: {message}", [{"field": field, "message": message}])


# -- checklists ------------------------------------------------------------------------------------
@blp.route("/checklists")
class Checklists(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ChecklistPageSchema)
    def get(self, args):
        """Checklist templates (督查项目清单) with their item counts, oldest first, paginated."""
        with services().uow() as uow:
            return cq.list_checklists(uow.session, args["page"], args["per_page"])

    @blp.arguments(ChecklistUploadArgs, location="files", content_type="multipart/form-data")
    @blp.response(201, ChecklistDetailSchema)
    @blp.alt_response(403, description="only the security office or an administrator imports", schema=ApiErrorSchema)
    @blp.alt_response(422, description="bad rows: `errors` lists each with its `line`; nothing was imported",
                      schema=ApiErrorSchema)
    def post(self, args):
        """Import a .csv or .xlsx checklist (seed 002 attachment 1 layout), all or nothing."""
        svc = services()
        upload, name = args["file"], args["name"].strip()
        with svc.uow() as uow:
            if not _has_role(api_user(uow.session), CHECKLIST_ROLES):
                raise NotAllowed("only the security office or an administrator may import checklists")
        template = checklists.add_checklist(svc, upload.read(), upload.filename or "upload.csv", name,
                                            user_id=g.api_user_id)
        return {**_template_dict(template), "items": list(template.items)}


def _template_dict(t: ChecklistTemplate) -> dict:
    return {"id": t.id, "name": t.name, "source": t.source, "created_at": t.created_at,
            "created_by_id": t.created_by_id, "item_count": len(t.items)}


@blp.route("/checklists/<int:template_id>")
@blp.response(200, ChecklistDetailSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def checklist_detail(template_id: int):
    """One checklist template with its items in order."""
    with services().uow() as uow:
        template = checklists.get_template(uow.session, template_id)
        return {**_template_dict(template), "items": list(template.items)}


@blp.route("/checklists/<int:template_id>/export")
@blp.arguments(ExportArgs, location="query")
@blp.response(200, description="the template in attachment 1 layout (five columns; extra_columns=true adds 适用部位 and "
                               "牵头部门): .xlsx, or with format=csv UTF-8 CSV (BOM)",
              content_type=XLSX)
@blp.alt_response(404, schema=ApiErrorSchema)
def checklist_export(args, template_id: int):
    """Download a checklist template as Excel or CSV (re-importable)."""
    fmt = args["format"]
    with services().uow() as uow:
        data = checklists.export_checklist(uow.session, template_id, fmt, args["extra_columns"])
        name = checklists.get_template(uow.session, template_id).name
    response = Response(data, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(f'{name}.{fmt}')}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- campaigns -------------------------------------------------------------------------------------
@blp.route("/campaigns")
class CampaignList(MethodView):
    @blp.arguments(CampaignListArgs, location="query")
    @blp.response(200, CampaignPageSchema)
    def get(self, args):
        """Campaigns in the caller's scope (organised there, or with a unit there), newest first, filtered."""
        page, per_page = args.pop("page"), args.pop("per_page")
        with services().uow() as uow:
            s = uow.session
            result = cq.list_campaigns(s, org_scope.scope_of(s, api_user(s)), args, page, per_page)
            return {"items": [_campaign_dict(c) for c in result.items], "total": result.total, "page": result.page,
                    "per_page": result.per_page}

    @blp.arguments(CampaignCreateArgs)
    @blp.response(201, CampaignDetailSchema)
    @blp.alt_response(403, description="only the security office, a leader or a supervisor starts one here",
                      schema=ApiErrorSchema)
    @blp.alt_response(422, description="invalid campaign; `errors` names each field", schema=ApiErrorSchema)
    def post(self, args):
        """Create a campaign and start it: each unit's self-check opens on the self-check start date."""
        org_id, _ = _organiser_check(args["template_id"], args.get("org_id"))
        campaign = Campaigns(services()).create_campaign(g.api_user_id, args["title"].strip(), args["template_id"],
                                                         args["unit_ids"], args["stages"], org_id=org_id,
                                                         whole_schools=args["whole_schools"],
                                                         stage_list=args.get("stage_list"),
                                                         supervised_by=args["supervised_by"])
        return _detail(campaign.id)


def _organiser_check(template_id: int, org_id: int | None) -> tuple[int, str]:
    """Who organises where, before anything starts: 422 for an org outside the caller's scope, 403 for a caller
    without an organiser role there, 422 for a missing checklist. Returns the organising org's id and name."""
    with services().uow() as uow:
        s = uow.session
        user = api_user(s)
        if org_id is not None and not org_scope.can_view_org(s, user, org_id):
            raise _field_error("org_id", f"organisation {org_id} does not exist")
        # The same default as create_campaign: the caller's school (a bureau's supervisor: the bureau).
        org = s.get(OrgNode, org_id) if org_id is not None else accounts.nearest(s, user.org, "school") or user.org
        if not _has_role(user, ORGANISER_ROLES, org):
            raise NotAllowed(f"only the security office, a leader or a supervisor may start a campaign at {org.name}")
        if s.get(ChecklistTemplate, template_id) is None:
            raise _field_error("template_id", f"checklist {template_id} does not exist")
        return org.id, org.name


@blp.route("/campaigns/<int:campaign_id>")
@blp.response(200, CampaignDetailSchema)
@blp.alt_response(404, **NOT_FOUND)
def campaign_detail(campaign_id: int):
    """One campaign: stages, status, current stage, its open tasks, coverage and open hazard count."""
    return _detail(campaign_id)


@blp.route("/campaigns/<int:campaign_id>/units")
@blp.arguments(UnitListArgs, location="query")
@blp.response(200, UnitCoveragePageSchema)
@blp.alt_response(404, **NOT_FOUND)
def campaign_units(args, campaign_id: int):
    """Per-unit coverage (items required, answered, hazards, sign-off) of the units in the caller's scope."""
    with services().uow() as uow:
        s = uow.session
        scope = org_scope.scope_of(s, api_user(s))
        campaign = cq.get_visible_campaign(s, scope, campaign_id)
        return cq.unit_coverage_page(s, scope, campaign, args["page"], args["per_page"], args.get("status"))


@blp.route("/campaigns/<int:campaign_id>/units/<int:org_id>/items")
@blp.response(200, UnitItemsSchema)
@blp.alt_response(404, **NOT_FOUND)
def unit_items(campaign_id: int, org_id: int):
    """The checklist items one unit answers, each with its answers, and the unit's open self-check tasks."""
    with services().uow() as uow:
        s = uow.session
        scope = org_scope.scope_of(s, api_user(s))
        cu = cq.visible_unit(s, scope, cq.get_visible_campaign(s, scope, campaign_id), org_id)
        return {"campaign_id": campaign_id, "coverage": cq.unit_coverage_of(s, cu), "items": cq.unit_items(s, cu),
                "open_tasks": cq.unit_tasks(s, campaign_id, org_id)}


@blp.route("/campaigns/<int:campaign_id>/units/<int:org_id>/report")
@blp.arguments(ReportArgs, location="query")
@blp.response(200, SelfCheckReportSchema, description="the report as JSON; with format=pdf the A4 PDF (application/pdf)")
@blp.doc(responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
@blp.alt_response(404, description="not the caller's unit, nor one they organise or supervise", schema=ApiErrorSchema)
def unit_report(args, campaign_id: int, org_id: int):
    """The unit's self-check report (自查报告): answers, hazards found, who signed and when; JSON or PDF."""
    with services().uow() as uow:
        s = uow.session
        # The unit page's rule: the unit's own people, and the organisers above it (security office, leaders,
        # supervisors), not everyone whose scope merely covers it.
        report = self_check_report(s, openable_unit(s, api_user(s), campaign_id, org_id))
    if args["format"] == "pdf":
        return pdf_response(report)
    return {**vars(report), "required": report.required, "answered": report.answered}


@blp.route("/campaigns/<int:campaign_id>/units/<int:org_id>/results", methods=["POST"])
@blp.arguments(ResultsArgs)
@blp.response(200, ResultsSchema)
@blp.alt_response(403, description="the caller may not answer for this unit", schema=ApiErrorSchema)
@blp.alt_response(404, **NOT_FOUND)
@blp.alt_response(409, **CONFLICT)
@blp.alt_response(422, description="invalid answers; `errors` names each (results/N/...)", schema=ApiErrorSchema)
def record_results(args, campaign_id: int, org_id: int):
    """Record answers (checked, na, hazard); a hazard answer starts its rectification; returns the hazards' ids."""
    svc = services()
    rows = args["results"]
    _check_unit_writable(campaign_id, org_id, rows)
    try:
        result_ids = Campaigns(svc).record_item_results(g.api_user_id, campaign_id, org_id, rows)
    except InvalidFormData as exc:
        raise InvalidFormData(exc.message, [dict(e, field=f"results.{e['field']}") for e in exc.errors]) from None
    except NotAllowed:
        _check_unit_writable(campaign_id, org_id, [])  # signed meanwhile: answer 409, not 403
        raise
    with svc.uow() as uow:
        s = uow.session
        cu = cq.visible_unit(s, org_scope.scope_of(s, api_user(s)), s.get(Campaign, campaign_id), org_id)
        return {"result_ids": result_ids, "hazard_ids": cq.result_hazards(s, result_ids),
                "coverage": cq.unit_coverage_of(s, cu)}


def _check_unit_writable(campaign_id: int, org_id: int, rows: list[dict]) -> None:
    """404 out of scope, 403 for a role that does not answer for the unit, 409 once signed; hazard rows validated."""
    with services().uow() as uow:
        s = uow.session
        user = api_user(s)
        scope = org_scope.scope_of(s, user)
        campaign = cq.get_visible_campaign(s, scope, campaign_id)
        cu = cq.visible_unit(s, scope, campaign, org_id)
        org = cu.org
        if not (any(gr.org_id == org.id for gr in user.grants) or _has_role(user, RECORDER_ROLES_ABOVE, org)):
            raise NotAllowed(f"you may not record results for {org.name}")
        if campaign.status == "closed":
            raise CampaignClosed(f"campaign {campaign.id} is closed")
        if cu.status in ("signed", "returned"):
            raise SelfCheckSigned(f"{org.name}'s self-check is signed; the security office must send it back first")
        _validate_hazard_rows(s, campaign, org, rows)


def _validate_hazard_rows(s, campaign: Campaign, org: OrgNode, rows: list[dict]) -> None:
    # The engine commits the plain answers before it starts each hazard; checking every hazard against the report
    # form first means a bad one refuses the whole request with nothing written. The defaults mirror the engine's.
    items = {i.id: i for i in items_for_unit(campaign.template, org)}
    form = cq.start_form(s, HAZARD_PROCESS)
    errors = []
    for n, row in enumerate(rows):
        if row["result"] != "hazard" or not isinstance(row.get("hazard"), dict) or row["item_id"] not in items:
            continue
        data = {"location": row.get("location") or org.name, "check_item": items[row["item_id"]].content,
                "category": "其他", "source": "self_check", **row["hazard"]}
        try:
            validate_form_data(form, data, now=services().clock.now())
        except InvalidFormData as exc:
            errors += [dict(e, field=f"results/{n}/hazard/{e['field']}") for e in exc.errors]
    if errors:
        raise InvalidFormData("invalid hazard in the answers: " + ", ".join(e["field"] for e in errors), errors)


@blp.route("/campaigns/<int:campaign_id>/findings", methods=["POST"])
@blp.arguments(FindingArgs)
@blp.response(201, FindingSchema)
@blp.alt_response(403, description="only inspectors, the security office, leaders and supervisors report findings",
                  schema=ApiErrorSchema)
@blp.alt_response(404, **NOT_FOUND)
@blp.alt_response(409, **CONFLICT)
@blp.alt_response(422, description="invalid finding; `errors` names each field", schema=ApiErrorSchema)
def report_finding(args, campaign_id: int):
    """A hazard found by joint inspection, supervision or look-back; records 应发现未发现 against signed answers."""
    svc = services()
    unit_id, item_id = args.pop("unit_id"), args.pop("item_id", None)
    with svc.uow() as uow:
        s = uow.session
        user = api_user(s)
        campaign = cq.get_visible_campaign(s, org_scope.scope_of(s, user), campaign_id)
        unit = s.get(OrgNode, unit_id)
        if not finding_unit_in_reach(unit, campaign, org_scope.scope_of(s, user)):
            raise _field_error("unit_id", f"unit {unit_id} is not within this campaign")
        if not may_report_finding(user, unit):
            raise NotAllowed(f"you may not report inspection findings for {unit.name}")
        if campaign.status == "closed":
            raise CampaignClosed(f"campaign {campaign.id} is closed")
        if item_id is not None and getattr(s.get(ChecklistItem, item_id), "template_id", None) != campaign.template_id:
            raise _field_error("item_id", f"item {item_id} is not on this campaign's checklist")
    hazard = Campaigns(svc).report_finding(g.api_user_id, campaign_id, unit_id, args, item_id=item_id)
    with svc.uow() as uow:
        s = uow.session
        stored = s.get(Hazard, hazard.id)
        stored.unit  # noqa: B018  (loaded now: the response is written after the session closes)
        missed = cq.missed_records(s, org_scope.scope_of(s, api_user(s)), campaign_id, "found", per_page=200,
                                   hazard_id=hazard.id)
        return {"hazard": stored, "missed": missed.items}


@blp.route("/campaigns/<int:campaign_id>/missed")
@blp.arguments(MissedArgs, location="query")
@blp.response(200, MissedPageSchema)
@blp.alt_response(404, **NOT_FOUND)
def missed(args, campaign_id: int):
    """应发现未发现 records: what the campaign's units signed off but a later or higher inspection found."""
    with services().uow() as uow:
        s = uow.session
        scope = org_scope.scope_of(s, api_user(s))
        cq.get_visible_campaign(s, scope, campaign_id)
        return cq.missed_records(s, scope, campaign_id, args["side"], args["page"], args["per_page"])


@blp.route("/look-backs", methods=["POST"])
@blp.arguments(LookBackCreateArgs)
@blp.response(201, CampaignDetailSchema)
@blp.alt_response(403, description="only the security office, a leader or a supervisor starts one here",
                  schema=ApiErrorSchema)
@blp.alt_response(422, description="invalid look-back, or no closed hazards to sample", schema=ApiErrorSchema)
def create_look_back(args):
    """Start a 回头看: sample closed hazards at random, narrowed by `filters` (seed and filters are recorded), and
    re-inspect their units."""
    org_id, _org_name = _organiser_check(args["template_id"], args.get("org_id"))
    filters = {k: v.isoformat() if isinstance(v, date) else v for k, v in (args.get("filters") or {}).items()}
    campaign = start_look_back(services(), g.api_user_id, args["title"].strip(), args["template_id"], org_id,
                               args["sample_size"], args.get("seed"), args["stages"], args.get("unit_ids"),
                               filters=filters)
    return _detail(campaign.id)
