"""`rectiflow incidents ...`: process steps that failed at run time, and their retry after a fix."""
from __future__ import annotations

import sys

import click
from sqlalchemy import select

from engine.infra.errors import RectiflowError
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.process.incidents import list_incidents
from engine.process.models import Incident

STATUSES = ("open", "resolved", "all")


def _fail(exc: RectiflowError) -> None:
    click.secho(f"error ({exc.code}): {exc.message}", fg="red", err=True)
    sys.exit(2)


def _when(value) -> str:
    return value.astimezone(CHINA).strftime("%m-%d %H:%M") if value else "-"


@click.group("incidents")
def incidents_cmd() -> None:
    """Incidents: failed scripts, conditions, DMN and service tasks, timers, timer starts and message steps."""


@incidents_cmd.command("list")
@click.option("--status", type=click.Choice(STATUSES), default="open", show_default=True,
              help="Which incidents: open ones, resolved ones, or all.")
@click.option("--user", "username", default=None,
              help="Only what this designer or administrator may see (default: every incident).")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@click.pass_obj
def incidents_list(obj, status: str, username: str | None, limit: int) -> None:
    """List incidents newest first: instance, kind, failing element, failures and the message."""
    wanted = None if status == "all" else status
    with obj.services.uow() as uow:
        s = uow.session
        try:
            if username:
                rows = list_incidents(s, accounts.find_user(s, username), wanted, limit=limit)
            else:
                stmt = select(Incident).order_by(Incident.id.desc()).limit(limit)
                rows = list(s.scalars(stmt.where(Incident.status == wanted) if wanted else stmt))
        except RectiflowError as exc:
            _fail(exc)
        for i in rows:
            element = f"{i.element_id or '-'}" + (f" ({i.element_name})" if i.element_name else "")
            click.echo(f"{i.id:>6}  instance={i.instance_id:<6} {i.kind:<8} {i.status:<9} failures={i.failures} "
                       f"failed={_when(i.failed_at)}  {element}")
            click.secho(f"        {i.message}", fg="red" if i.status == "open" else None)
        if not rows:
            click.echo("no incidents")


@incidents_cmd.command("retry")
@click.argument("incident_id", type=int)
@click.option("--user", "username", required=True, help="The designer or administrator retrying (recorded).")
@click.pass_obj
def incidents_retry(obj, incident_id: int, username: str) -> None:
    """Run an incident's failed step again (fix the data first: PATCH /api/v1/process-instances/ID/variables)."""
    services = obj.services
    try:
        with services.uow() as uow:
            user_id = accounts.find_user(uow.session, username).id
        incident = services.retry_incident(incident_id, user_id)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"incident {incident.id} {incident.status}")


COMMANDS = (incidents_cmd,)
