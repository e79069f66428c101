"""`rectiflow checklist ...` and `rectiflow messages ...`: checklist templates and the inter-process message queue."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from engine.campaigns import checklists
from engine.infra.errors import RectiflowError
from engine.infra.timezone import CHINA
from engine.process.messaging import list_messages, retry_failed_message


def _fail(exc: RectiflowError) -> None:
    click.secho(f"error ({exc.code}): {exc.message}", fg="red", err=True)
    for detail in getattr(exc, "errors", None) or []:
        where = f"line {detail['line']}" if "line" in detail else (detail.get("field") or "(form)")
        click.secho(f"  {where}: {detail['message']}", fg="red", err=True)
    sys.exit(2)


@click.group("checklist")
def checklist_cmd() -> None:
    """Checklist templates (督查项目清单) in seed 002 attachment 1 layout."""


@checklist_cmd.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the new template (must be unique).")
@click.pass_obj
def checklist_import(obj, file: Path, name: str) -> None:
    """Import a .csv or .xlsx checklist; every bad row is listed with its line number and nothing is imported."""
    services = obj.services
    with click.progressbar(length=1, label="checking rows", show_pos=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.label = "importing"
            bar.update(done - bar.pos)

        try:
            template = checklists.add_checklist(services, file.read_bytes(), file.name, name, progress=progress)
        except RectiflowError as exc:
            _fail(exc)
    click.echo(f"imported checklist {template.id} {template.name!r}: {len(template.items)} items")


@checklist_cmd.command("export")
@click.argument("template_id", type=int)
@click.option("--format", "fmt", type=click.Choice(checklists.FORMATS), default="xlsx", show_default=True,
              help="File format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: checklist-ID.FORMAT in the current folder).")
@click.option("--extra-columns", is_flag=True,
              help="Also write the optional columns 适用部位 and 牵头部门 (attachment 1 has five).")
@click.pass_obj
def checklist_export(obj, template_id: int, fmt: str, output: Path | None, extra_columns: bool) -> None:
    """Export a template as Excel or CSV in attachment 1 layout (its five columns unless --extra-columns)."""
    try:
        with obj.services.uow() as uow:
            data = checklists.export_checklist(uow.session, template_id, fmt, extra_columns)
    except RectiflowError as exc:
        _fail(exc)
    output = output or Path(f"checklist-{template_id}.{fmt}")
    output.write_bytes(data)
    click.echo(f"wrote {output}")


@checklist_cmd.command("list")
@click.pass_obj
def checklist_list(obj) -> None:
    """List the checklist templates with their item counts."""
    with obj.services.uow() as uow:
        for template, count in checklists.list_templates(uow.session):
            click.echo(f"{template.id:>4}  {template.name:<30} {count:>4} items  ({template.source or ''})")


@checklist_cmd.command("load-shipped")
@click.pass_obj
def checklist_load_shipped(obj) -> None:
    """Import the templates shipped in bpmn/checklists/ (built from the seed notices) that are not loaded yet."""
    services = obj.services
    for path in checklists.shipped_checklists(services.bpmn_dir):
        try:
            template = checklists.add_checklist(services, path.read_bytes(), path.name, path.stem, keep_existing=True)
        except RectiflowError as exc:
            _fail(exc)
        click.echo(f"{template.id:>4}  {template.name}  ({len(template.items)} items)")


@click.group("messages")
def messages_cmd() -> None:
    """BPMN messages between process instances."""


@messages_cmd.command("deliver")
@click.option("--limit", default=500, show_default=True, help="At most this many messages in one sweep.")
@click.pass_obj
def messages_deliver(obj, limit: int) -> None:
    """Deliver due queued messages (deferred mode and retries), each in its own transaction."""
    services = obj.services
    count = services.deliver_messages(limit=limit)
    click.echo(f"delivered {count} message(s)")


MESSAGE_STATUSES = ("pending", "delivered", "started", "unmatched", "failed")


def _when(value) -> str:
    return value.astimezone(CHINA).strftime("%m-%d %H:%M") if value else "-"


@messages_cmd.command("list")
@click.option("--status", type=click.Choice(MESSAGE_STATUSES), default=None,
              help="Only messages in this state (failed: delivery gave up; the error is shown).")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@click.pass_obj
def messages_list(obj, status: str | None, limit: int) -> None:
    """List messages newest first, with status, attempts, next try and last delivery error."""
    with obj.services.uow() as uow:
        rows = list_messages(uow.session, status, limit)
        for m in rows:
            target = m.target_instance_id if m.target_instance_id is not None else "-"
            click.echo(f"{m.id:>6}  {m.name:<28} {m.status:<9} attempts={m.attempts} target={target} "
                       f"created={_when(m.created_at)} next={_when(m.next_attempt_at if m.status == 'pending' else None)}")
            if m.last_error:
                click.secho(f"        error: {m.last_error}", fg="red" if m.status == "failed" else "yellow")
        if not rows:
            click.echo("no messages")


@messages_cmd.command("retry")
@click.argument("message_id", type=int)
@click.pass_obj
def messages_retry(obj, message_id: int) -> None:
    """Queue a failed message again for the next sweep (`messages deliver` or the scheduler)."""
    services = obj.services
    if not retry_failed_message(services.session_factory, message_id, services.clock.now()):
        click.secho(f"message {message_id} is not failed; nothing to retry", fg="red", err=True)
        sys.exit(2)
    click.echo(f"message {message_id} queued again")


COMMANDS = (checklist_cmd, messages_cmd)
