"""`rectiflow webhook`, `calendar` and `prefs`: the notification and calendar settings an administrator keeps."""
from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select

from engine.infra.errors import NotFound, RectiflowError
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process import bell, calendar_days, delivery, webhooks
from engine.process.models import CALENDAR_DAY_KINDS, DELIVERY_MODES
from notifications.templates import HEADLINES

# The kinds of notification there are (a digest is made by the system, not chosen).
EVENT_KINDS = tuple(sorted(kind for kind in HEADLINES if kind != "digest"))
# Per-user channels; group robots are chosen per organisation with `rectiflow webhook`.
USER_CHANNELS = ("inapp", "email")
_DATE = click.DateTime(["%Y-%m-%d"])


def _fail(exc: RectiflowError) -> None:
    lines = [f"{exc.code}: {exc.message}"]
    lines += [f"  {d.get('field') or '(form)'}: {d.get('message')}" for d in getattr(exc, "errors", None) or []]
    raise click.ClickException("\n".join(lines))


def _org(s, value: str) -> OrgNode:
    """An organisation by its code (as in the demo: gs-lz-cg-xdzy-houqin) or its numeric id."""
    org = s.get(OrgNode, int(value)) if value.isdigit() else None
    org = org or s.scalars(select(OrgNode).where(OrgNode.code == value)).first()
    if org is None:
        raise NotFound(f"no organisation with code or id {value!r}")
    return org


def _org_id(obj, value: str) -> int:
    with obj.services.uow() as uow:
        return _org(uow.session, value).id


_ORG_HELP = "Organisation code (e.g. gs-lz-cg-xdzy) or id."


# -- webhook -----------------------------------------------------------------------------------------
@click.group("webhook")
def webhook_cmd() -> None:
    """Group robots (WeCom / DingTalk style JSON POST) that receive an organisation's notifications."""


@webhook_cmd.command("add")
@click.option("--org", "org", required=True, help=_ORG_HELP + " The robot gets the events addressed to it.")
@click.option("--name", required=True, help="What the robot is (shown in lists), e.g. 保卫处值班群.")
@click.option("--url", required=True, help="The robot's http(s) address, key included.")
@click.option("--style", type=click.Choice(webhooks.WEBHOOK_STYLES), default="wecom", show_default=True,
              help="Message body: WeCom markdown, DingTalk markdown, or plain JSON.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(EVENT_KINDS),
              help="Only these kinds of event (repeat the option); default: every kind.")
@click.pass_obj
def webhook_add(obj, org: str, name: str, url: str, style: str, kinds: tuple[str, ...]) -> None:
    """Register a robot for an organisation; print its id."""
    try:
        endpoint = webhooks.add_webhook(obj.services, _org_id(obj, org), name, url, style, list(kinds))
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"webhook {endpoint.id} added: {endpoint.name} ({endpoint.style}) "
               f"{', '.join(endpoint.event_kinds) or 'every kind'}")


@webhook_cmd.command("list")
@click.option("--org", "org", default=None, help=_ORG_HELP + " Default: every organisation.")
@click.option("--all", "include_removed", is_flag=True, help="Also show removed robots.")
@click.pass_obj
def webhook_list(obj, org: str | None, include_removed: bool) -> None:
    """List robots: id, organisation, name, style, kinds, address (its key cut short)."""
    try:
        with obj.services.uow() as uow:
            s = uow.session
            rows = webhooks.webhooks(s, _org(s, org).id if org else None, include_removed)
            names = {o.id: o.code for o in s.scalars(select(OrgNode).where(OrgNode.id.in_({r.org_id for r in rows})))}
            for r in rows:
                state = "" if r.active else "  [removed]"
                click.echo(f"{r.id:<5} {names.get(r.org_id, r.org_id)!s:<28} {r.name:<16} {r.style:<9} "
                           f"{','.join(r.event_kinds) or '*':<24} {webhooks.masked_url(r.url)}{state}")
            if not rows:
                click.echo("no webhook endpoints")
    except RectiflowError as exc:
        _fail(exc)


@webhook_cmd.command("remove")
@click.argument("endpoint_id", type=int)
@click.pass_obj
def webhook_remove(obj, endpoint_id: int) -> None:
    """Stop sending to a robot (kept, inactive, for the record; messages already queued still go out)."""
    try:
        endpoint = webhooks.remove_webhook(obj.services, endpoint_id)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"webhook {endpoint.id} removed: {endpoint.name}")


# -- calendar ----------------------------------------------------------------------------------------
@click.group("calendar")
def calendar_cmd() -> None:
    """An organisation's own holidays and make-up working days (调休), on top of the national calendar.

    They apply to the organisation and everything below it, to due times worked out from then on and to the
    escalation steps still to come; due times already set on open tasks do not move.
    """


@calendar_cmd.command("add")
@click.option("--org", "org", required=True, help=_ORG_HELP)
@click.option("--date", "day", required=True, type=_DATE, help="The day, YYYY-MM-DD.")
@click.option("--kind", type=click.Choice(CALENDAR_DAY_KINDS), required=True,
              help="holiday: not a working day; workday: a working day even on a weekend or public holiday.")
@click.option("--name", default="", help="Why, e.g. 校运动会 or 国庆调休.")
@click.pass_obj
def calendar_add(obj, org: str, day: datetime, kind: str, name: str) -> None:
    """Declare (or change) one day for an organisation."""
    try:
        row = calendar_days.add_calendar_day(obj.services, _org_id(obj, org), day.date(), kind, name)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"{row.day.isoformat()} is a {row.kind} for {org}" + (f" ({row.name})" if row.name else ""))


@calendar_cmd.command("list")
@click.option("--org", "org", required=True, help=_ORG_HELP)
@click.option("--year", type=int, default=None, help="Only this year.")
@click.pass_obj
def calendar_list(obj, org: str, year: int | None) -> None:
    """The days set for an organisation and those it inherits from above (the nearest wins a date)."""
    try:
        with obj.services.uow() as uow:
            s = uow.session
            days = calendar_days.applied_days(s, _org(s, org).id, year)
    except RectiflowError as exc:
        _fail(exc)
    for d in days:
        source = "own" if d.own else f"from {d.org_name}"
        overridden = "  (overridden)" if d.overridden else ""
        click.echo(f"{d.day.isoformat()}  {d.kind:<8} {d.name:<12} {source}{overridden}")
    if not days:
        click.echo("no days of its own: the national calendar applies")


@calendar_cmd.command("remove")
@click.option("--org", "org", required=True, help=_ORG_HELP)
@click.option("--date", "day", required=True, type=_DATE, help="The day, YYYY-MM-DD.")
@click.pass_obj
def calendar_remove(obj, org: str, day: datetime) -> None:
    """Drop an organisation's entry for a day (the national calendar applies to it again)."""
    try:
        calendar_days.remove_calendar_day(obj.services, _org_id(obj, org), day.date())
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"{day.date().isoformat()} removed for {org}")


# -- prefs -------------------------------------------------------------------------------------------
@click.group("prefs")
def prefs_cmd() -> None:
    """A user's notification preferences: per kind of event and channel, immediately, in the daily digest, or off."""


@prefs_cmd.command("show")
@click.option("--user", "username", required=True, help="Whose preferences.")
@click.pass_obj
def prefs_show(obj, username: str) -> None:
    """What reaches the user how; `*` marks the user's own choices (the rest are defaults)."""
    try:
        with obj.services.uow() as uow:
            s = uow.session
            user = accounts.find_user(s, username)
            chosen = bell.preferences(s, user.id)
            click.secho(f"== {user.display_name} ({username}), e-mail: {user.email or 'none (e-mail is off)'}",
                        bold=True)
            click.echo(f"{'kind':<20}" + "".join(f"{channel:<14}" for channel in USER_CHANNELS))
            for kind in ("*", *EVENT_KINDS):
                cells = []
                for channel in USER_CHANNELS:
                    mode = delivery.effective_mode(chosen, kind, channel, user)
                    cells.append(f"{mode + ('*' if (kind, channel) in chosen else ''):<14}")
                click.echo(f"{kind:<20}" + "".join(cells))
    except RectiflowError as exc:
        _fail(exc)


@prefs_cmd.command("set")
@click.option("--user", "username", required=True, help="Whose preference.")
@click.option("--kind", type=click.Choice(("*", *EVENT_KINDS)), required=True,
              help="Kind of event, or * for every kind without a choice of its own.")
@click.option("--channel", type=click.Choice(USER_CHANNELS), required=True, help="inapp (the bell) or email.")
@click.option("--mode", type=click.Choice(DELIVERY_MODES), required=True,
              help="immediate, digest (the 08:00 daily digest) or off.")
@click.pass_obj
def prefs_set(obj, username: str, kind: str, channel: str, mode: str) -> None:
    """Choose how one kind of event reaches a user on one channel."""
    try:
        with obj.services.uow() as uow:
            user_id = accounts.find_user(uow.session, username).id
        bell.set_preference(obj.services, user_id, kind, channel, mode)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"{username}: {kind} by {channel} → {mode}")


COMMANDS = (webhook_cmd, calendar_cmd, prefs_cmd)
