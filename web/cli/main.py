"""The `rectiflow` command line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from engine.demo import build_demo, demo_state, wipe_database
from engine.infra.config import Settings
from engine.infra.errors import NotFound, RectiflowError
from engine.infra.schema import upgrade as upgrade_schema
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.process import tasklist as queries
from engine.process.bundles import Bundle
from engine.process.diagrams import check_bundle
from engine.process.findings import Finding
from engine.process.lint import CHECKS as LINT_CHECKS
from engine.process.migration import migrate
from engine.rectification import inbox as hazard_inbox
from web.cli import web as web_server
from web.cli.admin import COMMANDS as ADMIN_COMMANDS
from web.cli.audit import COMMANDS as AUDIT_COMMANDS
from web.cli.backup import COMMANDS as BACKUP_COMMANDS
from web.cli.campaign import COMMANDS as CAMPAIGN_COMMANDS
from web.cli.incidents import COMMANDS as INCIDENT_COMMANDS
from web.cli.outside import COMMANDS as OUTSIDE_COMMANDS
from web.cli.people import COMMANDS as PEOPLE_COMMANDS
from web.cli.scheduler import COMMANDS as SCHEDULER_COMMANDS
from web.cli.scheduler import at_time
from web.cli.schedules import COMMANDS as SCHEDULE_COMMANDS
from web.cli.statistics import COMMANDS as STATISTICS_COMMANDS
from web.cli.token import token_cmd
from web.cli.web import serve_cmd
from web.composition import build_services


class _Context:
    def __init__(self, database_url: str | None):
        self.settings = Settings.from_env(**({"database_url": database_url} if database_url else {}))
        self._services = None

    def close(self) -> None:
        if self._services is not None:
            self._services.dispose()
            self._services = None  # built again on the next use

    @property
    def services(self):
        if self._services is None:
            self._services = build_services(self.settings)
        return self._services


def _fail(exc: RectiflowError) -> None:
    click.secho(f"error ({exc.code}): {exc.message}", fg="red", err=True)
    for detail in getattr(exc, "errors", None) or []:
        if "field" in detail:
            click.secho(f"  {detail['field'] or '(form)'}: {detail['message']}", fg="red", err=True)
        else:  # a diagram finding (engine.process.findings)
            click.secho(f"  {detail.get('severity', 'error').upper()} {Finding(**detail)}", fg="red", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", envvar="RECTIFLOW_DATABASE_URL", default=None,
              help="SQLAlchemy URL (default: RECTIFLOW_DATABASE_URL, else ./rectiflow.sqlite3).")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """Rectiflow: closed-loop safety-hazard rectification (隐患排查整治) on BPMN."""
    ctx.obj = _Context(database_url)
    ctx.call_on_close(ctx.obj.close)


@main.command("upgrade")
@click.pass_obj
def upgrade_cmd(obj: _Context) -> None:
    """Create or migrate the database schema (Alembic) and deploy the shipped diagrams."""
    upgrade_schema(obj.settings.database_url)
    for definition in obj.services.deploy_directory():
        click.echo(f"deployed {definition.key} v{definition.version}")
    click.echo(f"database ready: {obj.settings.database_url}")


main.add_command(upgrade_cmd, "init-db")


@main.group()
def bpmn() -> None:
    """Validate, deploy and list BPMN process definitions."""


def _read_bundle(paths: tuple[Path, ...]) -> Bundle:
    try:
        return Bundle.from_paths(paths)
    except RectiflowError as exc:
        _fail(exc)


def _role_map(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise click.BadParameter("not valid JSON", param_hint="--role-map") from None
    if not isinstance(value, dict):
        raise click.BadParameter('must be a JSON object such as {"Reviewers": "security_office"}',
                                 param_hint="--role-map")
    return value


PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
ROLE_MAP = click.option("--role-map", "role_map", default=None, metavar="JSON",
                        help='Lanes or groups that are not role codes -> a role, e.g. {"Reviewers": "leader", '
                             '"*": "security_office"}.')
LINT_EPILOG = "\b\nLint checks (finding codes; uncaught-message only warns, at deploy too):\n" + "\n".join(
    f"  {code}: {text}" for code, text in LINT_CHECKS.items())


@bpmn.command("lint", epilog=LINT_EPILOG)
@PATHS
@ROLE_MAP
@click.pass_obj
def bpmn_lint(obj: _Context, paths: tuple[Path, ...], role_map: str | None) -> None:
    """Check a bundle (folders and .bpmn/.dmn/.json files) as deploy would; print each finding, exit 1 on errors.

    Checks XML safety, BPMN XSD, restricted scripts, decisions, callees (in the bundle or deployed), lanes, forms."""
    bundle = _read_bundle(paths)
    try:
        report = obj.services.validate_bundle(bundle, role_map=_role_map(role_map))
    except SQLAlchemyError:  # no database here: check the bundle on its own (deployed callees are unknown)
        click.secho("note: no database reachable; callees must be in the bundle", fg="yellow", err=True)
        report = check_bundle(bundle)
    for finding in report.findings:
        click.secho(f"{finding.severity.upper()} {finding}", fg="red" if finding.severity == "error" else "yellow")
    for d in report.diagrams:
        click.secho(f"ok {d.filename}: process {d.process_id}, {len(d.task_meta)} user tasks", fg="green")
    sys.exit(1 if report.errors else 0)


bpmn.add_command(bpmn_lint, "validate")


@bpmn.command("deploy")
@PATHS
@ROLE_MAP
@click.option("--user", "username", default=None, help="Deploy as this process designer (recorded in the log).")
@click.option("--replace", is_flag=True, default=False,
              help="Replace a live process (running instances, or a shipped process the engine relies on), or take "
                   "a shipped process's id; administrators only (without --user: the operator).")
@click.pass_obj
def bpmn_deploy(obj: _Context, paths: tuple[Path, ...], role_map: str | None, replace: bool,
                username: str | None) -> None:
    """Deploy a bundle (folders and .bpmn/.dmn/.json files): each process becomes its next version; prints what
    changed against the previous one."""
    bundle = _read_bundle(paths)
    try:
        user_id = _user_id(obj, username) if username else None
        definitions = obj.services.deploy_bundle(bundle, user_id, role_map=_role_map(role_map), replace=replace)
    except RectiflowError as exc:
        _fail(exc)
    for definition in definitions:
        click.echo(f"{definition.key} v{definition.version} sha256={definition.sha256[:12]}")
        if definition.change_summary:
            click.echo(f"  {definition.change_summary}")


@bpmn.command("migrate")
@click.argument("key")
@click.option("--to", "to_version", type=int, required=True, help="The version the instances move to.")
@click.option("--from", "from_version", type=int, default=None, help="The version they move from (default: --to − 1).")
@click.option("--dry-run", is_flag=True, default=False, help="Only report, per instance, whether it can move.")
@click.option("--user", "username", default=None, help="Migrate as this administrator (recorded in the log).")
@click.pass_obj
def bpmn_migrate(obj: _Context, key: str, to_version: int, from_version: int | None, dry_run: bool,
                 username: str | None) -> None:
    """Move running instances of a process onto a later version where SpiffWorkflow's diff says it is safe."""
    try:
        user_id = _user_id(obj, username) if username else None
        with obj.services.uow() as uow:
            target = next((d for d in queries.definitions(uow.session) if d.key == key and d.version == to_version),
                          None)
            if target is None:
                raise NotFound(f"process {key!r} has no version {to_version}")
            target_id = target.id
        report = migrate(obj.services, target_id, user_id, dry_run=dry_run, from_version=from_version)
    except RectiflowError as exc:
        _fail(exc)
    verb = "can move" if dry_run else "moved"
    for move in report.instances:
        state = (verb if move.safe else "stays") + ("" if move.safe else ": " + "; ".join(move.reasons))
        click.echo(f"instance {move.instance_id} {move.business_key or '-'}: {state}")
    count = sum(1 for m in report.instances if (m.safe if dry_run else m.moved))
    click.echo(f"{key} v{report.from_version} → v{report.to_version}: {count} of {len(report.instances)} {verb}")


@bpmn.command("list")
@click.pass_obj
def bpmn_list(obj: _Context) -> None:
    """List deployed process definitions."""
    with obj.services.uow() as uow:
        for d in queries.definitions(uow.session):
            who = d.deployed_by.username if d.deployed_by else "-"
            click.echo(f"{d.key:28} v{d.version:<4} {d.deployed_at:%Y-%m-%d %H:%M} {who:12} {d.sha256[:12]}  {d.name}"
                       + ("  [replaced]" if d.replaced else ""))
            if d.change_summary:
                click.echo(f"{'':34}{d.change_summary}")


def _user_id(obj: _Context, username: str) -> int:
    with obj.services.uow() as uow:
        return accounts.find_user(uow.session, username).id


@main.command("tasks")
@click.option("--user", "username", required=True, help="Whose inbox to show.")
@click.option("--view", type=click.Choice(queries.INBOX_VIEWS), default=None, help="One view only.")
@click.pass_obj
def tasks_cmd(obj: _Context, username: str, view: str | None) -> None:
    """Show a user's inbox (tasks of every process): assigned to them, claimable by their groups, overdue."""
    services = obj.services
    try:
        with services.uow() as uow:
            user = accounts.find_user(uow.session, username)
            now = services.clock.now()
            for name in [view] if view else list(queries.INBOX_VIEWS):
                page = hazard_inbox.inbox(uow.session, user, name, now, per_page=50, hooks=services.hooks)
                click.secho(f"== {name} ({page.total})", bold=True)
                for t in page.items:
                    due = f"{t.due_at.astimezone(CHINA):%Y-%m-%d %H:%M}" if t.due_at else "-"
                    overdue = " OVERDUE" if t.due_at and t.due_at < now else ""
                    if t.hazard:
                        about = f"hazard #{t.hazard.id} {t.hazard.location}: {t.hazard.problem[:30]}"
                    elif t.campaign:
                        about = f"campaign #{t.campaign['id']} {t.campaign['title']}"
                    else:
                        about = t.business_key or ""
                    who = f" [{t.assignee.username}]" if t.assignee else ""
                    unit = f" @{t.unit_name}" if t.unit_name else ""
                    click.echo(f"  task {t.id:<5} {t.name:<14} due {due}{overdue}{who}  "
                               f"{t.process_name} (instance {t.instance_id}){unit}  {about}".rstrip())
    except RectiflowError as exc:
        _fail(exc)


@main.command("complete")
@click.argument("task_id", type=int)
@click.option("--user", "username", required=True, help="Who completes the task.")
@click.option("--data", "data_json", default="{}", help="Form data as a JSON object.")
@click.pass_obj
def complete_cmd(obj: _Context, task_id: int, username: str, data_json: str) -> None:
    """Complete a task with form data (validated against the task's form)."""
    try:
        data = json.loads(data_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from None
    try:
        task = obj.services.complete_task(task_id, _user_id(obj, username), data)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"completed task {task.id} ({task.name})")


@main.command("start")
@click.argument("key")
@click.option("--user", "username", required=True, help="Who starts the process (see candidateStarterRoles).")
@click.option("--data", "data_json", default="{}", help="Start form data as a JSON object.")
@click.option("--business-key", default=None, help="An identifier of your own for this instance.")
@click.pass_obj
def start_cmd(obj: _Context, key: str, username: str, data_json: str, business_key: str | None) -> None:
    """Start the latest deployed version of process KEY; its first user tasks go to their inboxes.

    Subject-owned processes (hazard_rectification, campaign, unit_self_check, patrol) start through their own
    pages and routes instead (the refusal names them)."""
    try:
        data = json.loads(data_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    try:
        instance = obj.services.start_process(key, _user_id(obj, username), data, business_key)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"started instance {instance.id} of {key} v{instance.definition.version} ({instance.status})")


@main.command("cancel")
@click.argument("instance_id", type=int)
@click.option("--reason", required=True, help="Why the instance is stopped (recorded in its history).")
@click.option("--user", "username", required=True, help="The administrator who cancels it.")
@click.pass_obj
def cancel_cmd(obj: _Context, instance_id: int, reason: str, username: str) -> None:
    """Cancel a running process instance (administrators only): its open tasks are withdrawn."""
    try:
        instance = obj.services.cancel_instance(instance_id, _user_id(obj, username), reason)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"cancelled instance {instance.id} ({instance.status})")


@main.command("fire-timers")
@click.option("--at", "at", default=None, metavar="ISO-TIME",
              help="Pretend it is this time, e.g. 2026-12-24T09:00+08:00 (no offset: UTC).")
@click.pass_obj
def fire_timers_cmd(obj: _Context, at: str | None) -> None:
    """Fire the BPMN timers that are due and start the processes whose timer start event is due, now or at
    --at (the scheduler does this on its own).

    A timer start whose steps fail keeps its instance with an incident (`rectiflow incidents list`): it is
    counted as started and as failed."""
    services = at_time(obj.services, at)
    sweep = services.fire_due_timers()
    starts = services.fire_timer_starts()
    for problem in starts.failed:
        click.secho(f"timer start failed: {problem}", fg="red", err=True)
    click.echo(f"fired={sweep.fired} skipped={sweep.skipped} started={len(starts.started)}"
               + (f" ({', '.join(f'instance {i}' for i in starts.started)})" if starts.started else "")
               + f" failed={len(starts.failed)}")


@main.command("demo")
@click.option("--no-serve", is_flag=True, help="Only build the demo data; do not start the web UI.")
@click.option("--reset", is_flag=True,
              help="Delete the demo database and build it anew (refused on a database with real users).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface the web UI listens on.")
@click.option("--port", default=5000, show_default=True, type=int, help="TCP port of the web UI.")
@click.pass_obj
def demo_cmd(obj: _Context, no_serve: bool, reset: bool, host: str, port: int) -> None:
    """Build a demo bureau from the seed notices (province, city, two county bureaus, three schools; users for every
    role at every level, hazards in several states), then serve the UI.

    A database that already holds the demo is kept as it is, with everything done in it since; --reset deletes
    it and builds the demo anew."""

    where = make_url(obj.settings.database_url).render_as_string(hide_password=True)
    upgrade_schema(obj.settings.database_url)
    state = demo_state(obj.services)
    if reset and state == "other":
        click.secho(f"refused: {where} holds users who are not the demo's; --reset deletes only a demo database",
                    fg="red", err=True)
        sys.exit(2)
    if reset and state == "demo":
        obj.close()
        wipe_database(obj.settings.database_url)
        upgrade_schema(obj.settings.database_url)
        click.echo(f"Deleted the old demo in {where}; building it anew.")
    elif state == "demo":
        click.secho(f"The demo in {where} already exists and is kept as it is, with everything done in it since it "
                    "was built (only parts a newer version adds are built).\n"
                    "To start again from the demo's own data: rectiflow demo --reset", fg="yellow")
    obj.services.deploy_directory()
    try:
        logins = build_demo(obj.services)
    except RectiflowError as exc:
        _fail(exc)
    click.echo("Demo data ready. Logins (password for all: demo1234):")
    for username, name, role in logins:
        click.echo(f"  {username:<16} {name:<10} {role}")
    click.echo("Try: rectiflow tasks --user security")
    if not no_serve:
        obj.close()  # the server builds its own services; do not keep this pool open beside it
        web_server.print_urls(host, port)
        web_server.run_server(obj.settings, host, port)


for _command in (serve_cmd, token_cmd, *SCHEDULER_COMMANDS, *CAMPAIGN_COMMANDS, *ADMIN_COMMANDS,
                 *STATISTICS_COMMANDS, *SCHEDULE_COMMANDS, *INCIDENT_COMMANDS,
                 *OUTSIDE_COMMANDS, *BACKUP_COMMANDS, *AUDIT_COMMANDS, *PEOPLE_COMMANDS):
    main.add_command(_command)
