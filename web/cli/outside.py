"""Driving processes from outside: `rectiflow message send` (as POST /api/v1/messages) and `rectiflow timer-starts`."""
from __future__ import annotations

import json
import sys

import click

from engine.infra.errors import RectiflowError
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.process import timer_starts


def _json_object(text: str | None, option: str) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=option)
    return value


@click.group("message")
def message_group() -> None:
    """Send BPMN messages to deployed processes from outside."""


@message_group.command("send")
@click.argument("name")
@click.option("--correlation", "correlation_json", default=None,
              help='{"key": {"property": value}} or {"property": value}; omitted: read from the payload.')
@click.option("--payload", "payload_json", default="{}", help="The message's data as a JSON object.")
@click.option("--user", "username", required=True,
              help="Who sends it (process designers, administrators, or a role in messageSenderRoles).")
@click.pass_obj
def send_cmd(obj, name: str, correlation_json: str | None, payload_json: str, username: str) -> None:
    """Send message NAME: start the process whose message start event catches it, or reach the instances waiting
    for it with this correlation; prints what it did."""
    correlation = _json_object(correlation_json, "--correlation")
    payload = _json_object(payload_json, "--payload")
    try:
        with obj.services.uow() as uow:
            user_id = accounts.find_user(uow.session, username).id
        result = obj.services.send_message(name, correlation, payload, user_id)
    except RectiflowError as exc:
        click.secho(f"error ({exc.code}): {exc.message}", fg="red", err=True)
        for detail in getattr(exc, "errors", None) or []:
            click.secho(f"  {detail['field'] or '(input)'}: {detail['message']}", fg="red", err=True)
        sys.exit(2)
    if result.started_instance_ids:
        click.echo(f"message {result.message_id} {name}: started instance "
                   + ", ".join(str(i) for i in result.started_instance_ids))
    else:
        click.echo(f"message {result.message_id} {name}: {result.status} to instance "
                   + ", ".join(str(i) for i in result.delivered_instance_ids))


@click.command("timer-starts")
@click.pass_obj
def timer_starts_cmd(obj) -> None:
    """List the timer start events of the latest deployed versions: next start (China time), starts left, last
    start and last error (`rectiflow fire-timers` starts the due ones; the scheduler does it on its own)."""
    services = obj.services
    with services.uow() as uow:
        problems = timer_starts.sync(uow.session, services.runtime)
        uow.commit()
    with services.uow() as uow:
        rows = timer_starts.schedules(uow.session)
    for row in rows:
        when = f"{row.next_start_at.astimezone(CHINA):%Y-%m-%d %H:%M:%S}" if row.next_start_at else "-"
        left = "unbounded" if row.remaining is None else f"{row.remaining} left"
        last = f"{row.last_started_at.astimezone(CHINA):%Y-%m-%d %H:%M} (instance {row.last_instance_id})" \
            if row.last_started_at else "never"
        click.echo(f"{row.process_key}/{row.start_event:<16} {row.kind:<8} {row.expression:<24} next {when}  "
                   f"{left}  started {row.started}, last {last}" + (f"  ERROR {row.last_error}" if row.last_error else ""))
    for problem in problems:
        click.secho(f"unreadable timer: {problem}", fg="red", err=True)
    if not rows:
        click.echo("no deployed process starts by a timer")


COMMANDS = (message_group, timer_starts_cmd)
