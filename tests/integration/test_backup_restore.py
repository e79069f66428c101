"""Backup and restore on PostgreSQL: a restored database and upload folder carry every running instance to its end.

`rectiflow backup` (pg_dump -Fc + a tar of the evidence folder + a checksummed manifest) and `rectiflow restore`
(pg_restore into a fresh database, the folder unpacked, then `rectiflow upgrade`), run through the real CLI."""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text

from engine.assembly import assemble
from engine.infra.backup import BackupError, libpq_target
from engine.infra.db import make_engine, make_session_factory
from engine.process.models import Event, HumanTask, ProcessInstance
from engine.rectification.attachments import EvidenceStore, add_attachment, get_attachment_for
from engine.rectification.models import Hazard
from tests.conftest import PG_ADMIN_URL
from tests.incident_diagrams import APPROVE, WAIT, diagram
from web.cli.main import main

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-06"}
PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-11-06",
        "plan_contingency": "停用该车床", "plan_funds": "2000元"}
RECTIFY = {"measures": "已加装防护罩", "completion": "已完成"}
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def pg_tools():
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} NOT INSTALLED: the backup/restore tests did not run"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def fresh_database():
    """Factory: a new empty PostgreSQL database beside the tests' own; all dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = []

    def _create() -> str:
        name = f"rectiflow_restore_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    yield _create
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _cli(url: str, *args: str):
    result = CliRunner().invoke(main, ["--database-url", url, *args], catch_exceptions=False)
    return result


def _open(services, instance_id):
    with services.uow() as uow:
        return {t.bpmn_id: t.id for t in uow.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.state == "ready"))}


def _do(services, instance_id, bpmn_id, user, data):
    return services.complete_task(_open(services, instance_id)[bpmn_id], user, data)


def _instance_of(services, hazard_id) -> int:
    with services.uow() as uow:
        return uow.session.get(Hazard, hazard_id).instance_id


def _build_world(services, world, report_hazard, store):
    """A hazard waiting at 落实整改 with its overdue timer set and a photo, one just reported, and a process
    waiting at a one-hour timer."""
    users = world.users
    planned = report_hazard()
    planned_instance = _instance_of(services, planned.id)
    _do(services, planned_instance, "register_hazard", users.security,
        {**REGISTER, "responsible_unit_id": world.orgs.college})
    _do(services, planned_instance, "rectification_plan", users.head, PLAN)
    photo = add_attachment(services, users.staff, planned.id, filename="防护罩.png", data=PHOTO, store=store)
    reported = report_hazard(location="食堂后厨", problem="灭火器过期", category="消防")
    services.deploy_definition(diagram("wait_then_approve", "等待后审批", [WAIT, APPROVE], ["approve"]),
                               "wait_then_approve.bpmn", users.designer)
    waiting = services.start_process("wait_then_approve", users.designer, {})
    with services.uow() as uow:
        s = uow.session
        assert s.get(ProcessInstance, planned_instance).next_timer_at is not None
        assert s.get(ProcessInstance, waiting.id).next_timer_at is not None
    assert set(_open(services, planned_instance)) == {"rectify"}
    return planned, reported, waiting.id, photo.id


@ON_POSTGRESQL
def test_a_restored_backup_continues_every_running_instance_and_keeps_the_evidence(
        services, world, report_hazard, clock, tmp_path, database_url, fresh_database, pg_tools):
    source_uploads = tmp_path / "uploads"
    planned, reported, waiting_id, photo_id = _build_world(services, world, report_hazard,
                                                           EvidenceStore(source_uploads))

    result = _cli(database_url, "backup", str(tmp_path / "backup"), "--upload-dir", str(source_uploads))
    assert result.exit_code == 0, result.output
    assert "1 evidence files" in result.output
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["database.dump", "manifest.json",
                                                                       "uploads.tar"]
    # What happens to the source after the backup is not in it.
    _do(services, _instance_of(services, reported.id), "register_hazard", world.users.security,
        {**REGISTER, "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    shutil.rmtree(source_uploads)

    target_url = fresh_database()
    target_uploads = tmp_path / "restored-uploads"
    result = _cli(target_url, "restore", str(tmp_path / "backup"), "--upload-dir", str(target_uploads))
    assert result.exit_code == 0, result.output
    assert "3 running process instances; 1 evidence files referenced, 0 missing" in result.output

    engine = make_engine(target_url)
    restored = assemble(make_session_factory(engine), clock, services.bpmn_dir,
                        evidence_store=EvidenceStore(target_uploads))
    try:
        users = world.users
        planned_instance = _instance_of(restored, planned.id)
        reported_instance = _instance_of(restored, reported.id)
        assert set(_open(restored, reported_instance)) == {"register_hazard"}  # the backup's state, not later

        # The evidence file is there and readable through the service.
        attachment, data = get_attachment_for(restored, users.security, photo_id)
        assert (attachment.filename, data) == ("防护罩.png", PHOTO)

        # Timers carry on: the rectification deadline (2026-11-06 18:00 China time) and the one-hour wait.
        clock.set(datetime(2026, 11, 7, 1, 0, tzinfo=timezone.utc))
        assert restored.fire_due_timers().fired == 2
        assert set(_open(restored, planned_instance)) == {"rectify", "explain_overdue"}
        _do(restored, planned_instance, "explain_overdue", users.head, {"reason": "配件未到货", "new_measures": "已催货"})
        _do(restored, planned_instance, "rectify", users.staff, RECTIFY)
        _do(restored, planned_instance, "accept_rectification", users.security, {"accepted": True})
        _do(restored, planned_instance, "close_hazard", users.security2, {"closing_note": "同意销号"})

        _do(restored, reported_instance, "register_hazard", users.security,
            {**REGISTER, "deadline": "2026-11-20", "responsible_unit_id": world.orgs.college, "onsite_fix": True})
        _do(restored, reported_instance, "onsite_fix", users.staff, RECTIFY)
        _do(restored, reported_instance, "accept_rectification", users.security, {"accepted": True})
        _do(restored, reported_instance, "close_hazard", users.security, {"closing_note": "销号"})

        _do(restored, waiting_id, "approve", users.security, {})

        with restored.uow() as uow:
            s = uow.session
            assert dict(s.execute(select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status))
                        .all()) == {"completed": 3}
            assert {h.status for h in s.scalars(select(Hazard))} == {"archive"}
            assert s.scalars(select(HumanTask).where(HumanTask.state == "ready")).all() == []
            # New rows continue the restored sequences (no id collides with a restored one).
            assert s.scalar(select(func.count()).select_from(Event)) == s.scalar(
                select(func.count(func.distinct(Event.id))))
    finally:
        restored.dispose()


@ON_POSTGRESQL
def test_restore_refuses_a_used_database_a_used_folder_and_a_damaged_backup(
        services, world, report_hazard, tmp_path, database_url, fresh_database, pg_tools):
    uploads = tmp_path / "uploads"
    _build_world(services, world, report_hazard, EvidenceStore(uploads))
    backup_dir = tmp_path / "backup"
    assert _cli(database_url, "backup", str(backup_dir), "--upload-dir", str(uploads)).exit_code == 0
    again = _cli(database_url, "backup", str(backup_dir), "--upload-dir", str(uploads))
    assert again.exit_code == 2 and "is not empty" in again.output

    used = _cli(database_url, "restore", str(backup_dir), "--upload-dir", str(tmp_path / "new-uploads"))
    assert used.exit_code == 2 and "already has" in used.output and "fresh, empty database" in used.output

    target = fresh_database()
    full_folder = _cli(target, "restore", str(backup_dir), "--upload-dir", str(uploads))
    assert full_folder.exit_code == 2 and "is not empty" in full_folder.output

    archive = backup_dir / "uploads.tar"
    damaged = bytearray(archive.read_bytes())
    damaged[600] ^= 0xFF
    archive.write_bytes(bytes(damaged))
    broken = _cli(target, "restore", str(backup_dir), "--upload-dir", str(tmp_path / "new-uploads"))
    assert broken.exit_code == 2 and "does not match its checksum" in broken.output
    engine = create_engine(target)
    with engine.connect() as conn:  # refused before anything was restored
        assert conn.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
                            ).scalar() == 0
    engine.dispose()
    assert not (tmp_path / "new-uploads").exists()


def test_the_password_reaches_pg_dump_through_the_environment_and_sqlite_is_refused():
    conninfo, env = libpq_target("postgresql+psycopg://app:s3cret@db.example:6543/rectiflow?sslmode=require")
    assert conninfo == "postgresql://app@db.example:6543/rectiflow?sslmode=require"
    assert env["PGPASSWORD"] == "s3cret"
    with pytest.raises(BackupError, match="PostgreSQL only"):
        libpq_target("sqlite:///rectiflow.sqlite3")
