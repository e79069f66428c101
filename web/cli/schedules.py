"""`rectiflow schedule ...`: recurring inspections (seed 004) from the terminal: list, add, install, pause, run-due."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from sqlalchemy import or_, select

from engine.infra.clock import FixedClock
from engine.infra.errors import NotFound, RectiflowError
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.schedules import queries as schedule_queries
from engine.schedules.models import CADENCES, SCHEDULE_KINDS, InspectionSchedule
from engine.schedules.seeds import install_set
from engine.schedules.service import Schedules, run_due_schedules

WEEKDAYS = "一二三四五六日"


def _fail(exc: RectiflowError) -> None:
    click.secho(f"error ({exc.code}): {exc.message}", fg="red", err=True)
    for detail in getattr(exc, "errors", None) or []:
        click.secho(f"  {detail['field'] or '(form)'}: {detail['message']}", fg="red", err=True)
    sys.exit(2)


def _org_id(services, ref: str, kinds: tuple[str, ...]) -> int:
    """An org node by id or code."""
    with services.uow() as uow:
        org = uow.session.scalars(select(OrgNode).where(
            or_(OrgNode.code == ref, OrgNode.id == (int(ref) if ref.isdigit() else -1)),
            OrgNode.kind.in_(kinds))).first()
        if org is None:
            raise NotFound(f"no {'/'.join(kinds)} with id or code {ref!r}")
        return org.id


def _user_id(services, username: str) -> int:
    with services.uow() as uow:
        return accounts.find_user(uow.session, username).id


def _when(schedule) -> str:
    if schedule.cadence == "weekly":
        return f"weekly (周{WEEKDAYS[schedule.weekday - 1]})"
    if schedule.cadence in ("monthly", "quarterly"):
        return f"{schedule.cadence} ({f'day {schedule.day}' if schedule.day else 'first working day'})"
    return schedule.cadence


@click.group("schedule")
def schedule_cmd() -> None:
    """Recurring inspections: quarterly campus-wide checks, monthly unit checks, daily key-site patrols and semester
    drills (seed 004)."""


@schedule_cmd.command("list")
@click.option("--user", "username", default=None, help="Only the schedules this user may see (default: all).")
@click.option("--occurrences", "count", default=5, show_default=True, help="Recent occurrences shown per schedule.")
@click.pass_obj
def schedule_list(obj, username: str | None, count: int) -> None:
    """List schedules with their next run and recent occurrences (open, done, overdue, missed, failed)."""
    services = obj.services
    try:
        with services.uow() as uow:
            s = uow.session
            rows = (schedule_queries.visible_schedules(s, accounts.find_user(s, username)) if username
                    else list(s.scalars(select(InspectionSchedule).order_by(InspectionSchedule.id))))
            recent = schedule_queries.recent_occurrences(s, [r.id for r in rows], services.clock.now(), count)
            for r in rows:
                nxt = f"{r.next_run_at.astimezone(CHINA):%Y-%m-%d %H:%M}" if r.next_run_at else "paused"
                click.secho(f"{r.id:>4}  {r.title}  [{r.kind}, {_when(r)}, window {r.window}]  next {nxt}", bold=True)
                for o in recent.get(r.id, []):
                    tasks = f"  tasks {o.tasks_done}/{o.tasks_total}" if o.tasks_total else ""
                    where = f"  campaign {o.campaign_id}" if o.campaign_id else ""
                    click.echo(f"        {o.period_key:<10} {o.state:<8}{tasks}{where}")
    except RectiflowError as exc:
        _fail(exc)


@schedule_cmd.command("add")
@click.option("--user", "username", required=True, help="The security office user who sets it up.")
@click.option("--title", required=True, help="What the occurrences are called, e.g. 重点部位每日巡视.")
@click.option("--cadence", type=click.Choice(CADENCES), required=True, help="How often.")
@click.option("--weekday", type=click.IntRange(1, 7), default=None, help="Weekly: 1 = Monday … 7 = Sunday.")
@click.option("--day", type=click.IntRange(1, 28), default=None,
              help="Monthly/quarterly: day of the (first) month; default the first working day.")
@click.option("--semester-start", "semester_starts", multiple=True,
              help="Semester: a semester's first day, MM-DD (repeat; default 03-01 and 09-01).")
@click.option("--kind", type=click.Choice(SCHEDULE_KINDS), default="patrol", show_default=True,
              help="patrol: one task per unit; campaign: a 专项整治 over the units with a checklist; "
                   "drill: a semester's emergency drills per unit (bpmn/emergency_drill.bpmn).")
@click.option("--role", default="department_staff", show_default=True,
              help="Patrol: who does it (a lane of bpmn/patrol.bpmn, e.g. security_office for the school).")
@click.option("--unit", "units", multiple=True,
              help="A unit id or code, optionally with its sites: s-hq:食堂、水源 (repeat for more units).")
@click.option("--all-units", is_flag=True, help="Every unit of the school (resolved at each occurrence).")
@click.option("--site", "sites", multiple=True, help="Sites of a school-level patrol (e.g. --role security_office).")
@click.option("--template", "template_id", type=int, default=None, help="Campaign: the checklist template id.")
@click.option("--window", default=None, help="How long an occurrence stays open (ISO-8601, e.g. P1D, P7D).")
@click.option("--school", default=None, help="School id or code (default: the user's school).")
@click.option("--starts-on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The first period is the one containing this day (default: today).")
@click.pass_obj
def schedule_add(obj, username, title, cadence, weekday, day, semester_starts, kind, role, units, all_units, sites,
                 template_id, window, school, starts_on) -> None:
    """Add a recurring inspection for a school."""
    services = obj.services
    try:
        target_units = []
        for ref in units:
            org, _, site_text = ref.partition(":")
            target_units.append({"org_id": _org_id(services, org.strip(), ("unit", "grid", "school")),
                                 "sites": site_text})
        data = {"title": title, "cadence": cadence, "weekday": weekday, "day": day, "kind": kind, "window": window,
                "semester_starts": list(semester_starts) or None,
                "template_id": template_id, "starts_on": starts_on.date() if starts_on else None,
                "target": {"role": role, "all_units": all_units, "units": target_units, "sites": list(sites)},
                "school_id": _org_id(services, school, ("school",)) if school else None}
        schedule = Schedules(services).create_schedule(_user_id(services, username), data)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"schedule {schedule.id} {schedule.title!r}: next run "
               f"{schedule.next_run_at.astimezone(CHINA):%Y-%m-%d %H:%M} (China time)")


@schedule_cmd.command("install")
@click.option("--user", "username", required=True, help="The security office user who sets them up.")
@click.option("--school", default=None, help="School id or code (default: the user's school).")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A schedule set (default: bpmn/schedules/seed004.json).")
@click.pass_obj
def schedule_install(obj, username: str, school: str | None, path: Path | None) -> None:
    """Install a shipped schedule set (seed 004: quarterly, monthly, daily key sites, semester drills, weekly fire
    检查日)."""
    services = obj.services
    try:
        user_id = _user_id(services, username)
        if school:
            school_id = _org_id(services, school, ("school",))
        else:
            with services.uow() as uow:
                user = accounts.get_user(uow.session, user_id)
                found = accounts.nearest(uow.session, user.org, "school")
                if found is None:
                    raise NotFound("the user belongs to no school: pass --school")
                school_id = found.id
        result = install_set(services, school_id, user_id, path)
    except RectiflowError as exc:
        _fail(exc)
    for key, schedule_id in result.created:
        click.echo(f"created {key} (schedule {schedule_id})")
    for key in result.existing:
        click.echo(f"already installed {key}")
    for problem in result.problems:
        click.secho(f"warning: {problem}", fg="yellow")


@schedule_cmd.command("pause")
@click.argument("schedule_id", type=int)
@click.option("--user", "username", required=True, help="The security office user.")
@click.option("--resume", is_flag=True, help="Resume instead (from the current period; nothing is recorded missed).")
@click.pass_obj
def schedule_pause(obj, schedule_id: int, username: str, resume: bool) -> None:
    """Pause a schedule (no occurrences start) or, with --resume, resume it."""
    try:
        schedule = Schedules(obj.services).set_active(_user_id(obj.services, username), schedule_id, resume)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"schedule {schedule.id} {'resumed' if schedule.active else 'paused'}")


@schedule_cmd.command("run-due")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d"]), default=None,
              help="Pretend it is this UTC time (demo: see what the next days would start).")
@click.pass_obj
def schedule_run_due(obj, at: datetime | None) -> None:
    """Start every occurrence that is due now (the scheduler does this every minute) and print what was done."""
    services = obj.services
    if at is not None:
        services.clock = FixedClock(at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at)
        services.runtime.clock = services.clock
    result = run_due_schedules(services)
    for action in result.actions:
        click.echo(action)
    click.echo(f"started={result.started} missed={result.missed} failed={result.failed} skipped={result.skipped}")


COMMANDS = (schedule_cmd,)
