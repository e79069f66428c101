"""Backup and restore of a PostgreSQL deployment: the database (pg_dump -Fc) and the evidence files folder.

A backup is a directory with three files:

- ``database.dump``: ``pg_dump --format=custom`` of the whole database (schema, rows, sequences, triggers and the
  Alembic revision), a consistent snapshot taken in one transaction;
- ``uploads.tar``: every evidence file under the upload folder (content-addressed, written once, never changed),
  archived *after* the dump, so every file a dumped row names is in it;
- ``manifest.json``: when, from which database and revision, and the size and sha256 of both files (restore
  checks them before it touches anything).

Restore refuses a database that already has tables and an upload folder that already has files: it restores
into fresh ones. Afterwards run ``rectiflow upgrade`` (``rectiflow restore`` does unless told not to), which
applies the migrations a newer release brings and deploys its shipped diagrams.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from engine.infra.errors import RectiflowError

FORMAT = 1
DUMP_NAME = "database.dump"
UPLOADS_NAME = "uploads.tar"
MANIFEST_NAME = "manifest.json"
TEMP_PREFIX = ".upload-"  # EvidenceStore.put's half-written files: never part of a backup


class BackupError(RectiflowError):
    """A backup or restore that cannot be done as asked (wrong database, a tool missing, a damaged backup)."""

    code = "backup_failed"


@dataclass(frozen=True)
class BackupReport:
    directory: Path
    database: str
    revision: str | None
    dump_bytes: int
    files: int
    file_bytes: int


@dataclass(frozen=True)
class RestoreReport:
    database: str
    revision: str | None
    tables: int
    files: int


def libpq_target(database_url: str) -> tuple[str, dict[str, str]]:
    """(libpq connection URI without the password, environment with PGPASSWORD) for a SQLAlchemy PostgreSQL URL.

    The password goes through the environment so it never shows in the process list."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise BackupError(f"backup and restore work on PostgreSQL only, not {url.get_backend_name()} "
                          "(an embedded SQLite file is backed up by copying it with `sqlite3 FILE .backup COPY` "
                          "while nothing writes, plus the upload folder)")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database,
                       query=url.query)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed or not on PATH (Debian/Ubuntu: apt install postgresql-client; "
                          "it must be at least as new as the server)")
    return path


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BackupError(f"{Path(args[0]).name} failed (exit {result.returncode}): " + " | ".join(tail))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _revision(database_url: str) -> tuple[str | None, int]:
    """(Alembic revision, number of tables in the public schema) of a database."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            revision = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                        if "alembic_version" in tables else None)
        return revision, len(tables)
    finally:
        engine.dispose()


def _evidence_files(upload_dir: Path) -> list[Path]:
    if not upload_dir.exists():
        return []
    return sorted(p for p in upload_dir.rglob("*")
                  if p.is_file() and not p.is_symlink() and not p.name.startswith(TEMP_PREFIX))


def backup(database_url: str, upload_dir: Path, target: Path, now: datetime | None = None) -> BackupReport:
    """Write a backup of the database and the evidence files into the new (or empty) directory `target`."""
    conninfo, env = libpq_target(database_url)
    pg_dump = _tool("pg_dump")
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: give a new directory for each backup")
    target.mkdir(parents=True, exist_ok=True)
    revision, _ = _revision(database_url)
    dump = target / DUMP_NAME
    # The dump first: the evidence folder only grows, so archiving it afterwards covers every file a dumped
    # attachment row names (a file uploaded in between is carried along, harmless).
    _run([pg_dump, "--format=custom", "--no-password", f"--file={dump}", f"--dbname={conninfo}"], env)
    upload_dir = Path(upload_dir)
    files = _evidence_files(upload_dir)
    archive = target / UPLOADS_NAME
    file_bytes = 0
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            tar.add(path, arcname=path.relative_to(upload_dir).as_posix(), recursive=False)
            file_bytes += path.stat().st_size
    manifest = {
        "format": FORMAT,
        "created_at": (now or datetime.now(timezone.utc)).isoformat(),
        "database": make_url(database_url).database,
        "alembic_revision": revision,
        "upload_dir": str(upload_dir.resolve()),
        "evidence_files": len(files),
        "evidence_bytes": file_bytes,
        "files": {name: {"bytes": (target / name).stat().st_size, "sha256": _sha256(target / name)}
                  for name in (DUMP_NAME, UPLOADS_NAME)},
    }
    (target / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return BackupReport(target, manifest["database"], revision, manifest["files"][DUMP_NAME]["bytes"], len(files),
                        file_bytes)


def read_manifest(source: Path) -> dict:
    """The manifest of a backup directory, after checking both files against their recorded size and sha256."""
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{source} is not a Rectiflow backup: {MANIFEST_NAME} is missing") from None
    except ValueError as exc:
        raise BackupError(f"{source / MANIFEST_NAME} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source / MANIFEST_NAME} is not a backup manifest of format {FORMAT}")
    for name in (DUMP_NAME, UPLOADS_NAME):
        try:
            expected = manifest["files"][name]
            expected["bytes"], expected["sha256"]  # noqa: B018
        except (KeyError, TypeError):
            raise BackupError(f"{source / MANIFEST_NAME} does not describe {name}: the backup is damaged") from None
        path = source / name
        if not path.is_file():
            raise BackupError(f"{path} is missing from the backup")
        if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:
            raise BackupError(f"{path} does not match its checksum in {MANIFEST_NAME}: the backup is damaged")
    return manifest


def _extract(archive: Path, upload_dir: Path) -> int:
    count = 0
    with tarfile.open(archive, "r") as tar:
        members = tar.getmembers()
        for member in members:
            name = Path(member.name)
            if not member.isfile() or name.is_absolute() or ".." in name.parts:
                raise BackupError(f"{archive} holds an unexpected entry {member.name!r}: refusing to extract it")
        for member in members:
            tar.extract(member, upload_dir, set_attrs=False, **({"filter": "data"} if hasattr(tarfile, "data_filter")
                                                                 else {}))
            count += 1
    return count


def restore(source: Path, database_url: str, upload_dir: Path, *, acl: bool = True) -> RestoreReport:
    """Restore a backup into an empty database and an empty (or new) upload folder.

    Objects are owned by the role restoring (`--no-owner`: restore as the schema's owner role); privileges
    (GRANTs to the application role) are restored unless `acl` is False, so the roles they name must exist."""
    conninfo, env = libpq_target(database_url)
    pg_restore = _tool("pg_restore")
    source = Path(source)
    manifest = read_manifest(source)
    _, tables = _revision(database_url)
    if tables:
        raise BackupError(f"database {make_url(database_url).database!r} already has {tables} tables: restore into "
                          "a fresh, empty database (createdb NAME)")
    upload_dir = Path(upload_dir)
    if upload_dir.exists() and any(upload_dir.iterdir()):
        raise BackupError(f"upload folder {upload_dir} is not empty: restore into a new or empty folder")
    args = [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction", "--no-password",
            f"--dbname={conninfo}"]
    if not acl:
        args.append("--no-acl")
    _run(args + [str(source / DUMP_NAME)], env)
    upload_dir.mkdir(parents=True, exist_ok=True)
    files = _extract(source / UPLOADS_NAME, upload_dir)
    revision, tables = _revision(database_url)
    return RestoreReport(make_url(database_url).database, revision, tables, files)
