"""`rectiflow scheduler`, `rectiflow escalate` and `rectiflow deliver`: the background jobs, in their own process."""
from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone

import click
from apscheduler.schedulers import SchedulerNotRunningError

from engine.infra.clock import FixedClock
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.process import audit, bell, delivery, escalation
from engine.reports import snapshots as statistics_reports
from engine.schedules.service import run_due_schedules
from notifications.channels import build_notifiers

log = logging.getLogger("rectiflow.scheduler")

# Job intervals in seconds: the sweeps read only indexed due rows, so running them often costs little.
INTERVALS = {"escalation": 60, "timers": 30, "delivery": 15, "messages": 10, "audit_seal": 60}
DIGEST_HOUR = 8  # China time


def _at(services, when: datetime | None, days_ahead: float | None = None):
    """Run against a moved clock (to see what the sweep would do at another time, e.g. in the demo)."""
    if days_ahead is not None:
        when = datetime.now(timezone.utc) + timedelta(days=days_ahead)
    if when is not None:
        services.clock = FixedClock(when if when.tzinfo else when.replace(tzinfo=timezone.utc))
        services.runtime.clock = services.clock
    return services


def at_time(services, text: str | None):
    """Services on a fixed clock at ISO time `text` (an offset such as +08:00 is honoured; none: UTC)."""
    if text is None:
        return services
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time like 2026-12-24T09:00+08:00",
                                 param_hint="--at") from None
    return _at(services, when)


_AT = click.option("--at", "at", type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d"]), default=None,
                   help="Pretend it is this UTC time (e.g. to see what a run would do on a later date).")
_DAYS_AHEAD = click.option("--days-ahead", type=float, default=None,
                           help="Pretend it is this many days from now (demo: move the clock forward).")


def build_scheduler(services, notifiers, blocking: bool = True, stop: threading.Event | None = None):
    """An APScheduler with the escalation, BPMN timer and timer-start sweeps, outbox and message delivery, the daily
    digest. Once `stop` is set, outbox delivery takes no new rows and gives back those claimed but not sent."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=CHINA.key)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 300}

    def sweep():
        result = escalation.escalate_overdue(services)
        if result.actions:
            log.info("escalation: %d tasks, %s", result.processed, "; ".join(result.actions[:20]))

    def timers():
        result = services.fire_due_timers()
        if result.fired:
            log.info("timers fired: %d", result.fired)

    def timer_starts():
        # Processes whose start event is a timer (engine/process/timer_starts.py): each due slot starts once.
        result = services.fire_timer_starts()
        if result.started or result.failed:
            log.info("timer starts: %d started; %s", len(result.started), "; ".join(result.failed[:20]))

    def deliver():
        run = delivery.deliver_pending(services, notifiers, stop=stop)
        if run.sent or run.failed or run.retried or run.released:
            log.info("delivery: %s", run)

    def messages():
        # Deferred BPMN messages, and those waiting to retry after a failed delivery (engine/messaging.py).
        count = services.deliver_messages()
        if count:
            log.info("messages delivered: %d", count)

    def digest():
        log.info("digests built: %d", delivery.build_digests(services))
        deliver()

    first = datetime.now(timezone.utc)  # run each sweep once at start-up, then on its interval
    scheduler.add_job(sweep, "interval", seconds=INTERVALS["escalation"], id="escalation_sweep", next_run_time=first,
                      **common)
    scheduler.add_job(timers, "interval", seconds=INTERVALS["timers"], id="timer_sweep", next_run_time=first, **common)
    scheduler.add_job(timer_starts, "interval", seconds=INTERVALS["timers"], id="timer_start_sweep",
                      next_run_time=first, **common)
    scheduler.add_job(deliver, "interval", seconds=INTERVALS["delivery"], id="outbox_delivery", next_run_time=first,
                      **common)
    scheduler.add_job(messages, "interval", seconds=INTERVALS["messages"], id="message_delivery",
                      next_run_time=first, **common)
    scheduler.add_job(digest, "cron", hour=DIGEST_HOUR, minute=0, id="daily_digest", **common)

    def report_tables():
        # Campaigns' statistics tables (隐患问题统计表), due once 18:00 China time of a report date has passed.
        run = statistics_reports.generate_due_reports(services)
        if run.generated:
            log.info("statistics tables stored: %s", ", ".join(f"campaign {c} {d}" for c, d in run.generated))

    scheduler.add_job(report_tables, "cron", minute=5, id="statistics_reports", next_run_time=first, **common)
    def inspections():
        # Recurring inspections (seed 004): each due period starts once; periods missed while down are recorded.

        result = run_due_schedules(services)
        if result.actions:
            log.info("inspections: %s", "; ".join(result.actions[:20]))

    scheduler.add_job(inspections, "interval", seconds=60, id="inspection_schedules", next_run_time=first, **common)

    def seal():
        # The audit log's hash chain (engine/process/audit.py): the events written since the last run.
        try:
            run = audit.seal_events(services.session_factory)
        except audit.AuditChainBroken as exc:
            log.error("audit: %s", exc.message)
            return
        if run.sealed or run.busy:
            log.info("audit: %d events sealed%s", run.sealed, " (table busy: the rest next run)" if run.busy else "")

    scheduler.add_job(seal, "interval", seconds=INTERVALS["audit_seal"], id="audit_seal", next_run_time=first,
                      **common)
    return scheduler


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(scheduler, stop: threading.Event) -> threading.Thread:
    """On SIGTERM or SIGINT: set `stop` (delivery finishes the send in flight and releases the rest), then shut the
    scheduler down, waiting for running jobs, in a thread (a signal handler must not block). Returns that thread."""
    def shut_down():
        try:
            scheduler.shutdown(wait=True)
        except SchedulerNotRunningError:
            pass  # stopped before it started

    stopper = threading.Thread(target=shut_down, name="scheduler-stop")

    def handle(signum, frame):
        if stop.is_set():
            return  # already stopping: a second signal changes nothing
        log.info("%s: stopping; running jobs finish, claimed notifications not yet sent go back to pending",
                 signal.Signals(signum).name)
        stop.set()
        stopper.start()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handle)
    return stopper


@click.command("scheduler")
@click.pass_obj
def scheduler_cmd(obj) -> None:
    """Run the background jobs (escalation, BPMN timers and timer start events, notification and message delivery,
    daily digest,
    campaigns' statistics tables on their report dates,
    recurring inspections, sealing the audit log's hash chain) until stopped.

    SIGTERM or SIGINT (Ctrl-C) stops it gracefully: no new notifications are taken, the send in flight finishes,
    notifications claimed but not yet sent go back to pending, running jobs finish; then it exits with status 0."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    services = obj.services
    notifiers = build_notifiers(services)
    stop = threading.Event()
    scheduler = build_scheduler(services, notifiers, stop=stop)
    stopper = stop_on_signals(scheduler, stop)
    click.echo(f"scheduler running: channels={','.join(sorted(notifiers))}; jobs="
               f"{', '.join(job.id for job in scheduler.get_jobs())}; SIGTERM or Ctrl-C to stop")
    try:
        if not stop.is_set():
            scheduler.start()  # returns once the stopper has shut it down
    finally:
        stop.set()
        if stopper.is_alive():
            stopper.join()
        elif scheduler.running:
            scheduler.shutdown(wait=True)
    click.echo("scheduler stopped")


@click.command("escalate")
@click.option("--now", "run_now", is_flag=True, required=True, help="Run one escalation sweep now.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@_AT
@_DAYS_AHEAD
@click.pass_obj
def escalate_cmd(obj, run_now: bool, dry_run: bool, at: datetime | None, days_ahead: float | None) -> None:
    """Remind, mark overdue and escalate every task whose next deadline step is due, and print what was done."""
    services = _at(obj.services, at, days_ahead)
    result = escalation.escalate_overdue(services, dry_run=dry_run)
    for action in result.actions:
        click.echo(("would: " if dry_run else "") + action)
    click.echo(f"{'dry run: ' if dry_run else ''}tasks={result.processed} actions={len(result.actions)} "
               f"skipped={result.skipped}")


@click.command("deliver")
@click.option("--digest", is_flag=True, help="Also build the daily digests first.")
@_AT
@_DAYS_AHEAD
@click.pass_obj
def deliver_cmd(obj, digest: bool, at: datetime | None, days_ahead: float | None) -> None:
    """Send the pending notifications once (in-app, webhook, and e-mail when RECTIFLOW_SMTP_HOST is set).

    SIGTERM or SIGINT (Ctrl-C) stops it after the send in flight; the rest go back to pending (`released`)."""
    services = _at(obj.services, at, days_ahead)
    digests = delivery.build_digests(services) if digest else 0
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in STOP_SIGNALS}
    try:
        run = delivery.deliver_pending(services, build_notifiers(services), stop=stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo(f"digests={digests} fanned_out={run.fanned_out} sent={run.sent} retried={run.retried} "
               f"failed={run.failed} released={run.released}" + (" (stopped by a signal)" if run.stopped else ""))


@click.command("escalated")
@click.option("--user", "username", required=True, help="Whose \"escalated to me\" view to show.")
@click.pass_obj
def escalated_cmd(obj, username: str) -> None:
    """Show the open tasks escalated to a user (or to a role the user holds), with their level."""
    with obj.services.uow() as uow:
        user = accounts.find_user(uow.session, username)
        rows, total = escalation.escalated_to(uow.session, user)
        click.secho(f"== escalated to {username} ({total})", bold=True)
        for task, esc in rows:
            due = f"{task.due_at.astimezone(CHINA):%Y-%m-%d %H:%M}" if task.due_at else "-"
            click.echo(f"  task {task.id:<5} {task.name:<14} due {due}  level {esc.level} "
                       f"{escalation.RUNG_NAMES[esc.rung]}  (now at level {task.escalation_level})"
                       + (f"  reason: {esc.reason}" if esc.reason else ""))


@click.command("notifications")
@click.option("--user", "username", required=True, help="Whose in-app notifications to show.")
@click.pass_obj
def notifications_cmd(obj, username: str) -> None:
    """Show a user's in-app notifications (the bell), newest first, with the unread count."""
    with obj.services.uow() as uow:
        user = accounts.find_user(uow.session, username)
        items, total = bell.notifications(uow.session, user.id)
        click.secho(f"== {username}: {bell.unread_count(uow.session, user.id)} unread of {total}", bold=True)
        for item in items:
            mark = " " if item.read_at else "*"
            about = f"  → {item.subject_kind} {item.subject_id}" if item.subject_kind else ""
            click.echo(f" {mark} {item.created_at.astimezone(CHINA):%m-%d %H:%M}  {item.title}{about}")


@click.group("outbox")
def outbox_cmd() -> None:
    """The notification outbox: see the rows delivery gave up on, and queue them again."""


def _when(value) -> str:
    return value.astimezone(CHINA).strftime("%m-%d %H:%M") if value else "-"


@outbox_cmd.command("list")
@click.option("--state", "state", type=click.Choice(delivery.OUTBOX_STATES + ("all",)), default="failed",
              show_default=True, help="Only rows in this state (failed: delivery gave up; the error is shown).")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@click.pass_obj
def outbox_list(obj, state: str, limit: int) -> None:
    """List outbox rows newest first, with channel, kind, recipient, attempts, next try and last error."""
    with obj.services.uow() as uow:
        rows = delivery.list_outbox(uow.session, None if state == "all" else state, limit)
        for row in rows:
            to = (f"user {row.recipient_id}" if row.recipient_id is not None
                  else f"{row.recipient_role or '-'}@org {row.recipient_org_id or '-'}")
            click.echo(f"{row.id:>7}  {row.channel or '(event)':<8} {row.kind:<24} {row.status:<10} to={to} "
                       f"attempts={row.attempts} created={_when(row.created_at)} "
                       f"next={_when(row.next_attempt_at if row.status == 'pending' else None)}")
            if row.last_error:
                click.secho(f"         error: {row.last_error}", fg="red" if row.status == "failed" else "yellow")
        if not rows:
            click.echo("no outbox rows" + ("" if state == "all" else f" in state {state}"))


@outbox_cmd.command("retry")
@click.argument("message_ids", metavar="ID...", type=int, nargs=-1)
@click.option("--all-failed", is_flag=True, help="Queue every failed row again.")
@click.pass_obj
def outbox_retry(obj, message_ids: tuple[int, ...], all_failed: bool) -> None:
    """Queue failed outbox rows again (attempts from zero) for the next delivery (`deliver` or the scheduler).

    Exit status 2 when a given ID is not a failed row (the others are still queued)."""
    services = obj.services
    if all_failed == bool(message_ids):
        raise click.UsageError("give the IDs of failed rows, or --all-failed (not both)")
    if all_failed:
        click.echo(f"{delivery.retry_all_failed(services)} failed row(s) queued again")
        return
    missed = []
    for message_id in message_ids:
        if delivery.retry_failed(services, message_id):
            click.echo(f"outbox {message_id} queued again")
        else:
            missed.append(message_id)
            click.secho(f"outbox {message_id} is not failed; nothing to retry", fg="red", err=True)
    if missed:
        sys.exit(2)


COMMANDS = (scheduler_cmd, escalate_cmd, deliver_cmd, escalated_cmd, notifications_cmd, outbox_cmd)
