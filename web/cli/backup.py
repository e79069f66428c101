"""`rectiflow backup` and `rectiflow restore`: the PostgreSQL database and the evidence files, together."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from engine.infra.backup import BackupError, backup, restore
from engine.infra.errors import RectiflowError
from engine.infra.schema import upgrade as upgrade_schema
from engine.process.models import ProcessInstance
from engine.rectification.attachments import EvidenceStore
from engine.rectification.models import Attachment


def _fail(exc: RectiflowError) -> None:
    click.secho(f"error ({exc.code}): {exc.message}", fg="red", err=True)
    sys.exit(2)


UPLOAD_DIR = click.option("--upload-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                          help="The evidence files folder (default: RECTIFLOW_UPLOAD_DIR, else ./uploads).")


@click.command("backup")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@UPLOAD_DIR
@click.pass_obj
def backup_cmd(obj, target: Path, upload_dir: Path | None) -> None:
    """Back up the PostgreSQL database and the evidence files into the new directory TARGET.

    TARGET gets database.dump (pg_dump --format=custom, one consistent snapshot), uploads.tar (the evidence
    folder, archived after the dump so it holds every file the dump names) and manifest.json (revision, sizes,
    sha256). Needs pg_dump on PATH, at least as new as the server. Safe while the app and the scheduler run."""
    try:
        report = backup(obj.settings.database_url, upload_dir or obj.settings.upload_dir, target)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"backed up database {report.database} (revision {report.revision}, {report.dump_bytes} bytes) and "
               f"{report.files} evidence files ({report.file_bytes} bytes) to {report.directory}")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@UPLOAD_DIR
@click.option("--no-acl", is_flag=True, default=False,
              help="Do not restore privileges (GRANTs); use when the roles they name do not exist here.")
@click.option("--no-upgrade", is_flag=True, default=False,
              help="Only restore; do not run `rectiflow upgrade` (migrations and shipped diagrams) afterwards.")
@click.pass_obj
def restore_cmd(obj, source: Path, upload_dir: Path | None, no_acl: bool, no_upgrade: bool) -> None:
    """Restore backup SOURCE into the configured (empty) PostgreSQL database and an empty evidence folder.

    Create the database first (createdb NAME) and run this as the role that owns the schema; then it runs
    `rectiflow upgrade` and checks that every evidence file the database names is in the folder. Stop the web
    workers and the scheduler pointed at the target while it runs."""
    uploads = upload_dir or obj.settings.upload_dir
    try:
        report = restore(source, obj.settings.database_url, uploads, acl=not no_acl)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"restored database {report.database} (revision {report.revision}, {report.tables} tables) and "
               f"{report.files} evidence files into {uploads}")
    if not no_upgrade:
        upgrade_schema(obj.settings.database_url)
        for definition in obj.services.deploy_directory():
            click.echo(f"deployed {definition.key} v{definition.version}")
    store = EvidenceStore(Path(uploads))
    with obj.services.uow() as uow:
        keys = set(uow.session.scalars(select(Attachment.storage_key)))
        running = len(uow.session.scalars(select(ProcessInstance.id).where(
            ProcessInstance.status == "running")).all())
    missing = sorted(k for k in keys if not store.path_of(k).is_file())
    click.echo(f"{running} running process instances; {len(keys)} evidence files referenced, {len(missing)} missing")
    if missing:
        _fail(BackupError(f"{len(missing)} evidence files named by the database are not in the backup, e.g. "
                          f"{missing[0]}"))


COMMANDS = (backup_cmd, restore_cmd)
