"""The statistics table (隐患问题统计表): live figures as JSON or Excel, and campaigns' report-date snapshots."""
from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Response

from engine.infra.timezone import CHINA
from engine.reports import dashboard as dashboard_model
from engine.reports import excel as statistics_excel
from engine.reports import snapshots as statistics_reports
from engine.reports import statistics
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import ApiErrorSchema, Strict

blp = api_blueprint("api_statistics", __name__, "The statistics table (隐患问题统计表) and its report-date snapshots")


class StatisticsArgs(Strict):
    org_id = ma.fields.Integer(metadata={"description": "the scope: a unit, a school, or a bureau (every school "
                                                        "below); default: the caller's widest"})
    campaign_id = ma.fields.Integer(metadata={"description": "only this campaign's hazards"})
    start = ma.fields.Date(metadata={"description": "period start, China date, inclusive (default: the campaign's "
                                                    "start, else the first of the month)"})
    end = ma.fields.Date(metadata={"description": "period end, China date, inclusive (default: the as-of date)"})
    as_of = ma.fields.String(metadata={"description": "the moment: a date (its 18:00 China time) or an ISO datetime; "
                                                      "default now; hazards closed later count open"})
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "xlsx")))


class CountsSchema(ma.Schema):
    total = ma.fields.Integer()
    open = ma.fields.Integer()
    closed = ma.fields.Integer()
    overdue = ma.fields.Integer(metadata={"description": "open with a task past its due time at as_of"})
    found_in_period = ma.fields.Integer()
    closed_in_period = ma.fields.Integer()


class TotalsSchema(CountsSchema):
    closure_rate = ma.fields.Float(allow_none=True)


class BreakdownRowSchema(CountsSchema):
    key = ma.fields.Raw(metadata={"description": "category, grade ('' = not graded yet), source code, or org id"})
    label = ma.fields.String()
    kind = ma.fields.String()
    grades = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class StatusRowSchema(ma.Schema):
    key = ma.fields.String(metadata={"description": "a lifecycle stage of open hazards, or closed"})
    label = ma.fields.String()
    open = ma.fields.Boolean()
    count = ma.fields.Integer()


class ScopeSchema(ma.Schema):
    org_id = ma.fields.Integer()
    org_name = ma.fields.String()
    org_kind = ma.fields.String()
    campaign_id = ma.fields.Integer(allow_none=True)
    campaign_title = ma.fields.String(allow_none=True)


class PeriodSchema(ma.Schema):
    start = ma.fields.String()
    end = ma.fields.String()


class FiguresSchema(ma.Schema):
    version = ma.fields.Integer()
    scope = ma.fields.Nested(ScopeSchema)
    period = ma.fields.Nested(PeriodSchema)
    as_of = ma.fields.String()
    labels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Dict())
    totals = ma.fields.Nested(TotalsSchema)
    by_category = ma.fields.List(ma.fields.Nested(BreakdownRowSchema))
    by_grade = ma.fields.List(ma.fields.Nested(BreakdownRowSchema))
    by_source = ma.fields.List(ma.fields.Nested(BreakdownRowSchema))
    by_unit = ma.fields.List(ma.fields.Nested(BreakdownRowSchema))
    by_school = ma.fields.List(ma.fields.Nested(BreakdownRowSchema),
                               metadata={"description": "only for a scope above school level"})
    by_status = ma.fields.List(ma.fields.Nested(StatusRowSchema))


class ReportSchema(ma.Schema):
    id = ma.fields.Integer()
    campaign_id = ma.fields.Integer()
    report_date = ma.fields.Date()
    as_of = ma.fields.DateTime()
    generated_at = ma.fields.DateTime()
    totals = ma.fields.Function(lambda r: r.figures.get("totals"))


class ReportDetailSchema(ReportSchema):
    figures = ma.fields.Nested(FiguresSchema)


def _xlsx(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype=statistics_excel.XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _live(args: dict, force_xlsx: bool = False):
    svc = services()
    fmt = args.pop("format")
    with svc.uow() as uow:
        s = uow.session
        user = api_user(s)
        query = statistics.resolve_query(s, user, svc.clock.now(), **args)
        figures = statistics.compute(s, query)
        if not (force_xlsx or fmt == "xlsx"):
            return figures
        today = svc.clock.now().astimezone(CHINA).date()
        return _xlsx(*statistics_excel.export(s, figures, made_on=today, reporter=user.display_name))


@blp.route("/statistics")
@blp.arguments(StatisticsArgs, location="query")
@blp.response(200, FiguresSchema)
@blp.alt_response(403, description="the caller holds no statistics role", schema=ApiErrorSchema)
@blp.alt_response(404, description="scope or campaign outside the caller's", schema=ApiErrorSchema)
@blp.alt_response(422, description="invalid period or as_of", schema=ApiErrorSchema)
@blp.doc(responses={200: {"content": {statistics_excel.XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def figures(args):
    """The statistics figures of a scope and period as of a moment (security office, leaders, unit heads for
    their unit, supervisors for the schools below them, admins); `format=xlsx` answers the Excel file instead."""
    return _live(args)


@blp.route("/statistics.xlsx")
@blp.arguments(StatisticsArgs, location="query")
@blp.response(200, description="《校园安全专项整治工作隐患问题统计表》 as .xlsx", content_type=statistics_excel.XLSX)
@blp.alt_response(404, schema=ApiErrorSchema)
def figures_xlsx(args):
    """The same table as an Excel file in the official layout."""
    return _live(args, force_xlsx=True)


@blp.route("/statistics/campaigns/<int:campaign_id>/reports")
@blp.response(200, ReportSchema(many=True))
@blp.alt_response(404, schema=ApiErrorSchema)
def campaign_reports(campaign_id: int):
    """A campaign's stored report-date tables (as of 18:00 China time on each date), oldest first."""
    with services().uow() as uow:
        s = uow.session
        return statistics_reports.list_reports(s, api_user(s), campaign_id)[1]


@blp.route("/statistics/reports/<int:report_id>")
@blp.response(200, ReportDetailSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def report(report_id: int):
    """One stored report-date table with its figures, exactly as generated."""
    with services().uow() as uow:
        s = uow.session
        return statistics_reports.get_report(s, api_user(s), report_id)


@blp.route("/statistics/reports/<int:report_id>.xlsx")
@blp.response(200, description="the stored table as .xlsx", content_type=statistics_excel.XLSX)
@blp.alt_response(404, schema=ApiErrorSchema)
def report_xlsx(report_id: int):
    """One stored report-date table as Excel."""
    with services().uow() as uow:
        s = uow.session
        user = api_user(s)
        snapshot = statistics_reports.get_report(s, user, report_id)
        return _xlsx(*statistics_excel.export(s, snapshot.figures, made_on=snapshot.report_date,
                                              reporter=user.display_name))


class DashboardArgs(Strict):
    org_id = ma.fields.Integer(metadata={"description": "the scope; default: the caller's widest statistics scope"})


@blp.route("/dashboard")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200)
@blp.alt_response(403, description="the caller holds no statistics role", schema=ApiErrorSchema)
@blp.alt_response(404, description="`org_id` is outside the caller's scope", schema=ApiErrorSchema)
def dashboard(args):
    """驾驶舱 figures: KPIs, open hazards by category and grade, overdue by unit, the twelve-month trend (found,
    closed, average days to close) and, above school level, the schools ranked by overdue hazards."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        return dashboard_model.dashboard(s, api_user(s), svc.clock.now(), org_id=args.get("org_id"))
