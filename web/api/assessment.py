"""The annual safety assessment (年度安全考核) and per-unit inspection performance: figures as JSON or Excel, the
school's scoring scheme, accident records, submitting the score sheet for the leader's sign-off."""
from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Response, g

from engine.assessment import excel as assessment_excel
from engine.assessment import scheme as schemes
from engine.assessment import service as assessments
from engine.assessment.models import AnnualAssessment
from engine.assessment.sheet import figure_records
from engine.assessment.sources import SOURCES
from engine.infra.errors import NotFound
from engine.org.models import OrgNode
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import MAX_INT, ApiErrorSchema, Strict

blp = api_blueprint("api_assessment", __name__,
                    "The annual safety assessment (年度安全考核, 一票否决) and per-unit inspection performance")
SchoolId = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_INT),
                             metadata={"description": "the school (default: the caller's own)"})
Year = {"year": {"description": "the assessed year", "schema": {"type": "integer", "minimum": 2000, "maximum": 2100}}}


class SchoolArgs(Strict):
    school_id = SchoolId


class FormatArgs(SchoolArgs):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "xlsx")))


class PerformanceArgs(FormatArgs):
    start = ma.fields.Date(metadata={"description": "China date, inclusive (default: 1 January of `end`'s year)"})
    end = ma.fields.Date(metadata={"description": "China date, inclusive (default: today)"})


class YearArgs(SchoolArgs):
    year = ma.fields.Integer(required=True, validate=ma.validate.Range(min=2000, max=2100))


class SchemeArgs(SchoolArgs):
    scheme = ma.fields.Dict(required=True, metadata={"description": "title, pass_mark, items [{key, name, weight, "
                                                                    "source, source parameters}], vetoes"})


class AccidentArgs(Strict):
    unit_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_INT))
    occurred_on = ma.fields.Date(required=True)
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class CountsSchema(ma.Schema):
    scheduled = ma.fields.Integer()
    done = ma.fields.Integer(metadata={"description": "finished by its due time"})
    late = ma.fields.Integer(metadata={"description": "finished after its due time"})
    missed = ma.fields.Integer(metadata={"description": "not finished and past due"})
    open = ma.fields.Integer(metadata={"description": "not due yet"})
    on_time_rate = ma.fields.Float(allow_none=True)


class UnitPerformanceSchema(ma.Schema):
    org_id = ma.fields.Integer()
    name = ma.fields.String()
    patrol = ma.fields.Nested(CountsSchema)
    self_check = ma.fields.Nested(CountsSchema)


class PerformanceSchema(ma.Schema):
    school_id = ma.fields.Integer()
    start = ma.fields.Date()
    end = ma.fields.Date()
    units = ma.fields.List(ma.fields.Nested(UnitPerformanceSchema))


class SourceSchema(ma.Schema):
    key = ma.fields.String()
    label = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "rate, deduction or veto"})
    params = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())


class SchemeSchema(ma.Schema):
    school_id = ma.fields.Integer()
    scheme = ma.fields.Dict()
    sources = ma.fields.List(ma.fields.Nested(SourceSchema))


class AssessmentSchema(ma.Schema):
    id = ma.fields.Integer(allow_none=True)
    school_id = ma.fields.Integer()
    year = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "preview (not submitted: computed now), submitted, returned "
                                                       "or signed"})
    return_reason = ma.fields.String(allow_none=True)
    instance_id = ma.fields.Integer(allow_none=True)
    sheet = ma.fields.Dict(metadata={"description": "per unit: items (score, figure, records), vetoes, total, "
                                                    "eligible, verdict, heads"})


class RecordsSchema(ma.Schema):
    org_id = ma.fields.Integer()
    unit = ma.fields.String()
    key = ma.fields.String()
    name = ma.fields.String()
    figure = ma.fields.Dict()
    score = ma.fields.Float(allow_none=True)
    records = ma.fields.List(ma.fields.Dict())


class AccidentSchema(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    occurred_on = ma.fields.Date()
    description = ma.fields.String()
    recorded_by_id = ma.fields.Integer()
    recorded_at = ma.fields.DateTime()


def _xlsx(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype=assessment_excel.XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


XLSX_DOC = {"responses": {200: {"content": {assessment_excel.XLSX: {"schema": {"type": "string",
                                                                              "format": "binary"}}}}}}


@blp.route("/assessment/performance")
@blp.arguments(PerformanceArgs, location="query")
@blp.response(200, PerformanceSchema)
@blp.alt_response(403, schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@blp.doc(**XLSX_DOC)
def performance(args):
    """Per unit of the school: patrols and self-checks scheduled, done on time, late, missed and not yet due in a
    period (security office, leaders, supervisors above, admins); `format=xlsx` answers the Excel file."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        school, start, end, rows = assessments.read_performance(s, api_user(s), args.get("school_id"),
                                                                args.get("start"), args.get("end"), svc.clock.now())
        if args["format"] == "xlsx":
            return _xlsx(*assessment_excel.performance_export(school.name, start, end, svc.clock.now(), rows))
        return {"school_id": school.id, "start": start, "end": end, "units": rows}


def _sources() -> list[dict]:
    return [{"key": v.key, "label": v.label, "kind": v.kind, "params": v.params} for v in SOURCES.values()]


@blp.route("/assessment/scheme", methods=["GET"])
@blp.arguments(SchoolArgs, location="query")
@blp.response(200, SchemeSchema)
@blp.alt_response(403, schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def get_scheme(args):
    """The school's scoring scheme (its own, or the shipped default) and the registered data sources."""
    with services().uow() as uow:
        s = uow.session
        school = assessments.school_for(s, api_user(s), args.get("school_id"))
        return {"school_id": school.id, "scheme": schemes.scheme_for(s, school.id), "sources": _sources()}


@blp.route("/assessment/scheme", methods=["PUT"])
@blp.arguments(SchemeArgs)
@blp.response(200, SchemeSchema)
@blp.alt_response(403, description="only the school's security office or an administrator", schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(422, description="weights not summing to 100, an unknown source, a bad pass mark; `errors` "
                  "names each field", schema=ApiErrorSchema)
def put_scheme(args):
    """Replace the school's scoring scheme (weights, pass mark, items, 一票否决 conditions)."""
    svc = services()
    checked = assessments.Assessments(svc).save_scheme(g.api_user_id, args.get("school_id"), args["scheme"])
    with svc.uow() as uow:
        s = uow.session
        school = assessments.school_for(s, api_user(s), args.get("school_id"))
    return {"school_id": school.id, "scheme": checked, "sources": _sources()}


def _view(assessment, school, year: int, sheet: dict) -> dict:
    return {"id": assessment.id if assessment else None, "school_id": school.id, "year": year,
            "status": assessment.status if assessment else "preview",
            "return_reason": assessment.return_reason if assessment else None,
            "instance_id": assessment.instance_id if assessment else None, "sheet": sheet}


@blp.route("/assessment/<int:year>")
@blp.arguments(FormatArgs, location="query")
@blp.response(200, AssessmentSchema)
@blp.alt_response(403, schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@blp.doc(parameters=[{"in": "path", "name": "year", **Year["year"]}], **XLSX_DOC)
def sheet(args, year: int):
    """The school's score sheet of a year: frozen as submitted, or computed now when not submitted yet;
    `format=xlsx` answers the Excel file (the sheet and every record behind it)."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        school, assessment, data = assessments.read_sheet(s, api_user(s), args.get("school_id"), year,
                                                          svc.clock.now())
        view = _view(assessment, school, year, data)
    if args["format"] == "xlsx":
        return _xlsx(*assessment_excel.sheet_export(school.name, year, view["status"], data))
    return view


@blp.route("/assessment/<int:year>/units/<int:org_id>/items/<key>")
@blp.arguments(SchoolArgs, location="query")
@blp.response(200, RecordsSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.doc(parameters=[{"in": "path", "name": "year", **Year["year"]}])
def figure(args, year: int, org_id: int, key: str):
    """The records behind one figure of the sheet: a unit's item or 一票否决 condition."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        _, _, data = assessments.read_sheet(s, api_user(s), args.get("school_id"), year, svc.clock.now())
    try:
        unit, entry = figure_records(data, org_id, key)
    except (KeyError, StopIteration):
        raise NotFound(f"no figure {key!r} for unit {org_id}") from None
    return {"org_id": unit["org_id"], "unit": unit["name"], "key": entry["key"], "name": entry["name"],
            "figure": entry.get("figure", {}), "score": entry.get("score"), "records": entry["records"]}


@blp.route("/assessment/<int:year>/submit", methods=["POST"])
@blp.arguments(SchoolArgs)
@blp.response(201, AssessmentSchema)
@blp.alt_response(403, description="only the school's security office", schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(409, description="the year was already submitted", schema=ApiErrorSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@blp.doc(parameters=[{"in": "path", "name": "year", **Year["year"]}])
def submit(args, year: int):
    """Compute the year's score sheet, freeze it and start its sign-off by the school leader (annual_assessment)."""
    svc = services()
    assessment = assessments.Assessments(svc).submit(g.api_user_id, args.get("school_id"), year)
    with svc.uow() as uow:
        s = uow.session
        row = s.get(AnnualAssessment, assessment.id)
        return _view(row, s.get(OrgNode, row.school_id), year, row.sheet)


@blp.route("/accidents", methods=["GET"])
@blp.arguments(YearArgs, location="query")
@blp.response(200, AccidentSchema(many=True))
@blp.alt_response(403, schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def accidents(args):
    """The school's accident records of a year (一票否决 for their units)."""
    with services().uow() as uow:
        s = uow.session
        return assessments.accidents_of(s, api_user(s), args.get("school_id"), args["year"])[1]


@blp.route("/accidents", methods=["POST"])
@blp.arguments(AccidentArgs)
@blp.response(201, AccidentSchema)
@blp.alt_response(403, description="only the school's security office", schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
def record_accident(args):
    """Record a safety accident of a unit (security office): it vetoes the unit's year."""
    return assessments.Assessments(services()).record_accident(g.api_user_id, args)
