"""`rectiflow statistics show|export|generate`: the statistics table (隐患问题统计表) from the terminal."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path

import click

from engine.infra.errors import RectiflowError
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.reports import excel as statistics_excel
from engine.reports import snapshots as statistics_reports
from engine.reports import statistics
from web.cli.scheduler import _AT, _DAYS_AHEAD, _at


def _fail(exc: RectiflowError) -> None:
    click.secho(f"error ({exc.code}): {exc.message}", fg="red", err=True)
    for detail in getattr(exc, "errors", None) or []:
        click.secho(f"  {detail.get('field') or '(form)'}: {detail['message']}", fg="red", err=True)
    sys.exit(2)


def _query_options(command):
    """The scope, campaign, period and moment options `show` and `export` share."""
    for option in reversed((
        click.option("--user", "username", required=True, help="Whose scope applies (security office, leader, "
                                                              "unit head, supervisor or admin)."),
        click.option("--org", "org_id", type=int, default=None, help="Scope: a unit, school or bureau id "
                                                                     "(default: the user's widest)."),
        click.option("--campaign", "campaign_id", type=int, default=None, help="Only this campaign's hazards."),
        click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None,
                     help="Period start (default: the campaign's start, else the first of the month)."),
        click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None,
                     help="Period end (default: the as-of date)."),
        click.option("--as-of", "as_of", default=None,
                     help="A date (its 18:00 China time) or ISO datetime; default now. Later closures count open."),
        click.option("--report", "report_id", type=int, default=None,
                     help="A stored report-date snapshot instead of a live query."),
    )):
        command = option(command)
    return command


def _figures(services, username: str, org_id, campaign_id, start, end, as_of, report_id) -> tuple[dict, date, str]:
    with services.uow() as uow:
        s = uow.session
        user = accounts.find_user(s, username)
        if report_id is not None:
            snapshot = statistics_reports.get_report(s, user, report_id)
            return snapshot.figures, snapshot.report_date, user.display_name
        query = statistics.resolve_query(s, user, services.clock.now(), org_id=org_id, campaign_id=campaign_id,
                                         start=start.date() if start else None, end=end.date() if end else None,
                                         as_of=as_of)
        return statistics.compute(s, query), services.clock.now().astimezone(CHINA).date(), user.display_name


def _print(figures: dict) -> None:
    scope, period, t = figures["scope"], figures["period"], figures["totals"]
    as_of = datetime.fromisoformat(figures["as_of"]).astimezone(CHINA)
    click.secho(f"== {scope['org_name']} {statistics_reports.REPORT_TITLE}"
                + (f" · {scope['campaign_title']}" if scope.get("campaign_title") else ""), bold=True)
    click.echo(f"period {period['start']} .. {period['end']}, as of {as_of:%Y-%m-%d %H:%M} (China)")
    click.echo("total={total} open={open} closed={closed} overdue={overdue} found_in_period={found_in_period} "
               "closed_in_period={closed_in_period}".format(**t))
    for table, title in (("by_category", "category"), ("by_grade", "grade"), ("by_source", "source"),
                         ("by_unit", "unit"), ("by_school", "school")):
        rows = [r for r in figures.get(table) or [] if r["total"]]
        if rows:
            click.secho(f"-- by {title}", bold=True)
        for r in rows:
            click.echo(f"  {r['label']:<16} total {r['total']:>4}  open {r['open']:>4}  closed {r['closed']:>4}  "
                       f"overdue {r['overdue']:>4}")
    click.secho("-- by status", bold=True)
    for r in figures["by_status"]:
        click.echo(f"  {r['label']:<16} {r['count']:>4}")


@click.group("statistics")
def statistics_cmd() -> None:
    """The statistics table (隐患问题统计表): show, export to Excel, generate the report-date snapshots."""


@statistics_cmd.command("show")
@_query_options
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def show_cmd(obj, username, org_id, campaign_id, start, end, as_of, report_id, as_json: bool) -> None:
    """Print the figures: totals, then by category, grade, source, unit (and school) and status."""
    try:
        figures, _, _ = _figures(obj.services, username, org_id, campaign_id, start, end, as_of, report_id)
    except RectiflowError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        _print(figures)


@statistics_cmd.command("export")
@_query_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: the table's own file name in the current folder).")
@click.pass_obj
def export_cmd(obj, username, org_id, campaign_id, start, end, as_of, report_id, output: Path | None) -> None:
    """Write the table as an .xlsx file in the official 统计表 layout."""
    services = obj.services
    try:
        figures, made_on, reporter = _figures(services, username, org_id, campaign_id, start, end, as_of, report_id)
        with services.uow() as uow:
            data, filename = statistics_excel.export(uow.session, figures, made_on=made_on, reporter=reporter)
    except RectiflowError as exc:
        _fail(exc)
    path = output or Path(filename)
    path.write_bytes(data)
    click.echo(f"wrote {path} ({len(data)} bytes)")


@statistics_cmd.command("generate")
@_AT
@_DAYS_AHEAD
@click.pass_obj
def generate_cmd(obj, at: datetime | None, days_ahead: float | None) -> None:
    """Store the snapshot of every campaign report date whose 18:00 (China) has passed and that has none yet."""
    services = _at(obj.services, at, days_ahead)
    run = statistics_reports.generate_due_reports(services)
    for campaign_id, day in run.generated:
        click.echo(f"campaign {campaign_id}: stored the table of {day.isoformat()}")
    click.echo(f"campaigns due={run.campaigns} snapshots stored={len(run.generated)}")


COMMANDS = (statistics_cmd,)
