"""The audit log cannot be rewritten: the database refuses UPDATE and DELETE of events, and a hash chain sealed
after the fact shows any change made behind the triggers (`rectiflow audit verify` exits 1 naming the event)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import DBAPIError

from engine.process import audit
from engine.process.events import record_event
from engine.process.models import Event
from web.cli.main import main as cli
from web.cli.scheduler import build_scheduler

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}


@pytest.fixture
def logged(services, world, report_hazard, task_of):
    """A log with a few events of a real hazard (reported, registered) and their ids in order."""
    hazard = report_hazard()
    services.complete_task(task_of(hazard.id, "register_hazard").id, world.users.security,
                           {**REGISTER, "responsible_unit_id": world.orgs.college})
    report_hazard(problem="灭火器过期")
    with services.uow() as uow:
        ids = list(uow.session.scalars(select(Event.id).order_by(Event.id)))
    assert len(ids) >= 5
    return ids


def _app_engine(services):
    return services.session_factory.kw["bind"]


def _tamper(database_url: str, *statements: str) -> None:
    """Change the log as its owner would: with the append-only triggers out of the way, then put them back."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        if database_url.startswith("postgresql"):
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
            for statement in statements:
                conn.execute(text(statement))
            conn.execute(text("ALTER TABLE events ENABLE TRIGGER USER"))
        else:
            triggers = list(conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")))
            assert {name for name, _ in triggers} == {"events_no_update", "events_no_delete"}
            for name, _ in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            for statement in statements:
                conn.execute(text(statement))
            for _, sql in triggers:
                conn.execute(text(sql))
    engine.dispose()


def _verify_cli(database_url: str):
    return CliRunner().invoke(cli, ["--database-url", database_url, "audit", "verify"])


@pytest.mark.parametrize("statement", [
    "UPDATE events SET kind = 'Nothing' WHERE id = :id",
    "UPDATE events SET data = '{}' WHERE id = :id",
    "UPDATE events SET occurred_at = occurred_at WHERE id = :id",  # not even a no-op update
    "DELETE FROM events WHERE id = :id",
    "DELETE FROM events",
])
def test_the_application_cannot_update_or_delete_events(services, logged, statement):
    engine = _app_engine(services)

    def rows():
        with engine.connect() as conn:
            return conn.execute(text("SELECT id, kind, data FROM events ORDER BY id")).all()

    before = rows()
    with pytest.raises(DBAPIError, match="events are append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement), {"id": logged[1]})
    assert rows() == before


def test_the_orm_cannot_change_or_delete_an_event_either(services, logged):
    with services.uow() as uow:
        uow.session.get(Event, logged[0]).kind = "Rewritten"
        with pytest.raises(DBAPIError, match="append-only"):
            uow.commit()
    with services.uow() as uow:
        uow.session.delete(uow.session.get(Event, logged[0]))
        with pytest.raises(DBAPIError, match="append-only"):
            uow.commit()
    with services.uow() as uow:
        assert uow.session.get(Event, logged[0]).kind != "Rewritten"


def test_sealing_chains_every_event_and_is_idempotent(services, logged):
    first = audit.seal_events(services.session_factory)
    assert first.sealed == len(logged) and not first.busy
    with services.uow() as uow:
        rows = uow.session.execute(select(Event.id, Event.prev_hash, Event.hash).order_by(Event.id)).all()
    assert rows[0].prev_hash == audit.GENESIS
    assert all(row.hash and len(row.hash) == 64 for row in rows)
    assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]

    assert audit.seal_events(services.session_factory).sealed == 0
    with services.uow() as uow:
        assert uow.session.execute(select(Event.id, Event.prev_hash, Event.hash).order_by(Event.id)).all() == rows

    # New events join the same chain at the next run.
    with services.uow() as uow:
        record_event(uow.session, services.clock.now(), "Later", None, note="后来的事件")
        uow.commit()
    assert audit.seal_events(services.session_factory).sealed == 1
    with services.uow() as uow:
        assert uow.session.scalar(select(Event.prev_hash).where(Event.kind == "Later")) == rows[-1].hash
        result = audit.verify_events(uow.session)
    assert result.ok and result.sealed == len(logged) + 1 and result.unsealed == 0


def test_sealing_in_small_batches_gives_the_same_chain(services, logged):
    assert audit.seal_events(services.session_factory, batch=2).sealed == len(logged)
    with services.uow() as uow:
        result = audit.verify_events(uow.session, batch=3)
    assert result.ok and result.checked == result.sealed == len(logged)


def test_a_sealed_event_cannot_be_resealed_or_unsealed(services, logged):
    audit.seal_events(services.session_factory)
    engine = _app_engine(services)
    for statement in ("UPDATE events SET hash = :h WHERE id = :id",
                      "UPDATE events SET hash = NULL, prev_hash = NULL WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), {"id": logged[2], "h": "f" * 64})


@pytest.mark.parametrize("column", audit.HASHED)
def test_sealing_may_not_change_anything_else(services, logged, column):
    engine = _app_engine(services)
    with engine.connect() as conn:
        row = conn.execute(select(*audit._READ).where(Event.id == logged[-1])).mappings().one()
        some = {name: conn.scalar(text(f"SELECT MIN(id) FROM {table}")) for name, table in (
            ("actor_id", "users"), ("instance_id", "process_instances"), ("hazard_id", "hazards"),
            ("task_id", "human_tasks"))}
    other = {"id": row["id"] + 100000, "occurred_at": row["occurred_at"] + timedelta(seconds=1), "kind": "Forged",
             "data": {"forged": True}}.get(column, None if row[column] is not None else some.get(column))
    assert other != row[column]
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(update(Event.__table__).where(Event.id == row["id"])
                     .values(prev_hash="a" * 64, hash="b" * 64, **{column: other}))
    with engine.begin() as conn:  # the same seal with nothing else changed is allowed
        conn.execute(update(Event.__table__).where(Event.id == row["id"]).values(prev_hash="a" * 64, hash="b" * 64))


def test_verify_passes_on_a_sealed_log_and_counts_the_unsealed(services, logged, database_url):
    result = _verify_cli(database_url)
    assert result.exit_code == 0, result.output
    assert f"checked {len(logged)} events: 0 sealed, {len(logged)} not yet sealed" in result.output

    sealed = CliRunner().invoke(cli, ["--database-url", database_url, "audit", "seal"])
    assert sealed.exit_code == 0 and f"sealed {len(logged)} events" in sealed.output
    with services.uow() as uow:
        record_event(uow.session, services.clock.now(), "Unsealed", None)
        uow.commit()
    result = _verify_cli(database_url)
    assert result.exit_code == 0, result.output
    assert f"checked {len(logged) + 1} events: {len(logged)} sealed, 1 not yet sealed" in result.output
    assert "chain intact" in result.output


@pytest.mark.parametrize("tampering", [
    "UPDATE events SET data = '{\"reason\": \"rewritten\"}' WHERE id = {victim}",
    "UPDATE events SET kind = 'Nothing' WHERE id = {victim}",
    "UPDATE events SET actor_id = CASE WHEN actor_id IS NULL THEN (SELECT MIN(id) FROM users) END WHERE id = {victim}",
])
def test_verify_names_the_event_changed_behind_the_triggers(services, logged, database_url, tampering):
    audit.seal_events(services.session_factory)
    victim = logged[2]
    _tamper(database_url, tampering.replace("{victim}", str(victim)))
    with services.uow() as uow:
        result = audit.verify_events(uow.session)
    assert result.broken_id == victim and "no longer matches its hash" in result.reason
    output = _verify_cli(database_url)
    assert output.exit_code == 1, output.output
    assert f"first broken event: {victim}" in output.output
    assert "checked 3 events: 2 sealed" in output.output  # the two before the victim were fine


def test_verify_names_the_event_after_a_deleted_one(services, logged, database_url):
    audit.seal_events(services.session_factory)
    _tamper(database_url, f"DELETE FROM events WHERE id = {logged[1]}")
    output = _verify_cli(database_url)
    assert output.exit_code == 1
    assert f"first broken event: {logged[2]}" in output.output
    assert "does not follow the event before it" in output.output


def test_a_rewritten_event_with_a_recomputed_hash_breaks_the_next_link(services, logged, database_url):
    """Re-hashing the changed event itself is not enough: the next event still chains to the old hash."""
    audit.seal_events(services.session_factory)
    victim = logged[1]
    with services.uow() as uow:
        row = uow.session.execute(select(*audit._READ).where(Event.id == victim)).mappings().one()
    forged = {**row, "kind": "Nothing"}
    _tamper(database_url, f"UPDATE events SET kind = 'Nothing', hash = '{audit.chain_hash(row['prev_hash'], forged)}' "
                          f"WHERE id = {victim}")
    with services.uow() as uow:
        result = audit.verify_events(uow.session)
    assert result.broken_id == logged[2] and "does not follow" in result.reason


def test_sealing_refuses_to_paper_over_an_unsealed_gap(services, logged, database_url):
    audit.seal_events(services.session_factory)
    _tamper(database_url, f"UPDATE events SET kind = 'Nothing', hash = NULL, prev_hash = NULL WHERE id = {logged[1]}")
    with pytest.raises(audit.AuditChainBroken, match=f"event {logged[1]} is unsealed"):
        audit.seal_events(services.session_factory)
    with services.uow() as uow:
        result = audit.verify_events(uow.session)
    assert result.broken_id == logged[2] and "before it is not" in result.reason


def test_the_scheduler_seals_every_minute(services):
    scheduler = build_scheduler(services, {}, blocking=False)
    job = scheduler.get_job("audit_seal")
    assert job is not None and job.trigger.interval.total_seconds() == 60


def test_two_sealers_racing_writers_make_one_valid_chain(services, world, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises every write transaction; concurrent sealers are a PostgreSQL question")
    audit.seal_events(services.session_factory)  # what deploying and the world wrote
    stop = threading.Event()
    errors: list[BaseException] = []
    written = [0, 0, 0]
    sealed = [0, 0]

    def writer(k):
        try:
            for i in range(150):
                with services.uow() as uow:
                    for j in range(3):
                        record_event(uow.session, services.clock.now(), "Race", world.users.staff, n=i, j=j)
                    uow.commit()
                written[k] += 3
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def sealer(k):
        try:
            while not stop.is_set():
                sealed[k] += audit.seal_events(services.session_factory, batch=7).sealed
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    sealers = [threading.Thread(target=sealer, args=(k,)) for k in range(2)]
    for t in writers + sealers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in sealers:
        t.join()
    assert errors == []
    sealed_total = sum(sealed) + audit.seal_events(services.session_factory).sealed
    with services.uow() as uow:
        result = audit.verify_events(uow.session)
        total = uow.session.scalar(select(func.count()).select_from(Event))
        assert uow.session.scalar(select(func.count()).select_from(Event).where(Event.hash.is_(None))) == 0
    assert result.ok, result
    assert result.sealed == result.checked == total
    # Each event was sealed once, by one of the two (the other waited for the lock, then found it sealed).
    assert sum(written) == 1350 and sealed_total == 1350
    assert min(sealed) > 0, f"both sealers should have sealed something: {sealed}"
