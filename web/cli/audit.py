"""`rectiflow audit seal|verify`: the audit log's hash chain (engine/process/audit.py)."""
from __future__ import annotations

import sys

import click

from engine.process import audit


@click.group("audit")
def audit_cmd() -> None:
    """The audit log (events): append-only in the database, sealed into a hash chain that shows tampering."""


@audit_cmd.command("seal")
@click.option("--lock-timeout", type=float, default=10.0, show_default=True,
              help="PostgreSQL: wait at most this many seconds for the events table lock.")
@click.pass_obj
def audit_seal(obj, lock_timeout: float) -> None:
    """Chain every unsealed event onto the log's hash chain (the scheduler does this every minute; idempotent)."""
    run = audit.seal_events(obj.services.session_factory, lock_timeout=lock_timeout)
    click.echo(f"sealed {run.sealed} events")
    if run.busy:
        click.secho("the events table stayed locked: the rest is sealed by the next run", fg="yellow", err=True)
        sys.exit(3)


@audit_cmd.command("verify")
@click.pass_obj
def audit_verify(obj) -> None:
    """Recompute the hash chain: print how many events were checked and unsealed, and the first broken event;
    exit 1 if the log was tampered with."""
    with obj.services.uow() as uow:
        result = audit.verify_events(uow.session)
    click.echo(f"checked {result.checked} events: {result.sealed} sealed, {result.unsealed} not yet sealed")
    if not result.ok:
        click.secho(f"TAMPERED: event {result.broken_id} {result.reason}", fg="red", err=True)
        click.echo(f"first broken event: {result.broken_id}")
        sys.exit(1)
    click.echo(f"chain intact; head {result.head}")


COMMANDS = (audit_cmd,)
