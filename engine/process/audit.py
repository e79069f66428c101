"""The audit log's tamper evidence: a hash chain over the `events` table, sealed after the fact.

Events are inserted with `prev_hash` and `hash` NULL, so writers never wait for each other on a chain head. A
sealing run (the scheduler every minute, `rectiflow audit seal`) takes the unsealed events in id order and sets

    hash = sha256(prev_hash || canonical JSON of the event's columns)

where prev_hash is the previous event's hash (64 zeros for the first event). The database's triggers (migration
0021) refuse every other UPDATE and every DELETE of an event, so a sealed event can only change with the triggers
off, as the table's owner; `verify_events` recomputes the chain and names the first event that does not match.

On PostgreSQL a run holds `LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE` for its short transaction: the lock waits
for the transactions that inserted events and have not finished (so no event with a lower id can commit after the
run), keeps new inserts waiting until it commits (they then draw higher ids), and conflicts with itself, so two
sealers take turns and the second finds nothing left to seal. (SHARE MODE alone would let two sealers hold it at
once and deadlock on their UPDATEs.) The lock waits at most `lock_timeout` seconds; a busy run seals next time.
On SQLite every write transaction is already exclusive (BEGIN IMMEDIATE, engine/infra/db.py).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.infra.db import is_postgres
from engine.infra.errors import RectiflowError
from engine.process.models import Event

GENESIS = "0" * 64
EVENTS = Event.__table__
# The columns a hash covers, in the canonical document (sorted keys); a new column of `events` belongs here too.
HASHED = ("id", "occurred_at", "kind", "actor_id", "instance_id", "hazard_id", "task_id", "data")
_READ = [EVENTS.c[name] for name in HASHED] + [EVENTS.c.prev_hash, EVENTS.c.hash]


class AuditChainBroken(RectiflowError):
    """Sealing found an unsealed event before a sealed one: the log was changed behind the triggers."""

    code = "audit_chain_broken"


def _json_value(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} in an audit hash")


def canonical(row) -> str:
    """The event's hashed columns as one JSON document: sorted keys, no spaces, UTC ISO times, UTF-8 text."""
    return json.dumps({name: row[name] for name in HASHED}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=_json_value)


def chain_hash(prev_hash: str, row) -> str:
    """sha256 over the previous hash (hex) followed by the event's canonical JSON."""
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


@dataclass
class SealRun:
    sealed: int = 0
    busy: bool = False  # PostgreSQL: the table lock was not granted within lock_timeout; the rest seals next time


def _is_lock_timeout(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "55P03"  # lock_not_available


def _seal_batch(session: Session, batch: int, lock_timeout: float) -> int:
    if is_postgres(session):
        session.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'"))
        session.execute(text("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE"))
    head = session.execute(select(EVENTS.c.id, EVENTS.c.hash).where(EVENTS.c.hash.is_not(None))
                           .order_by(EVENTS.c.id.desc()).limit(1)).first()
    rows = session.execute(select(*_READ).where(EVENTS.c.hash.is_(None)).order_by(EVENTS.c.id)
                           .limit(batch)).mappings().all()
    if not rows:
        return 0
    if head is not None and rows[0]["id"] < head.id:
        raise AuditChainBroken(f"event {rows[0]['id']} is unsealed but event {head.id} after it is sealed: "
                               "the log was changed behind its triggers (run `rectiflow audit verify`)")
    prev = head.hash if head is not None else GENESIS
    values = []
    for row in rows:
        digest = chain_hash(prev, row)
        values.append({"b_id": row["id"], "b_prev": prev, "b_hash": digest})
        prev = digest
    session.execute(update(EVENTS).where(EVENTS.c.id == bindparam("b_id"), EVENTS.c.hash.is_(None))
                    .values(prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"))
                    .execution_options(synchronize_session=False), values)
    return len(rows)


def seal_events(session_factory: sessionmaker, batch: int = 2000, lock_timeout: float = 2.0) -> SealRun:
    """Seal every unsealed event, `batch` per short transaction; idempotent and safe to run in several processes."""
    run = SealRun()
    while True:
        try:
            with session_factory() as session, session.begin():
                sealed = _seal_batch(session, batch, lock_timeout)
        except OperationalError as exc:
            if not _is_lock_timeout(exc):
                raise
            run.busy = True
            return run
        run.sealed += sealed
        if sealed < batch:
            return run


@dataclass
class Verification:
    checked: int = 0
    sealed: int = 0
    unsealed: int = 0
    broken_id: int | None = None
    reason: str | None = None
    head: str = GENESIS  # the last sealed event's hash: record it elsewhere to detect a rewritten tail later

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify_events(session: Session, batch: int = 5000) -> Verification:
    """Recompute the chain in id order; stop at the first event that breaks it and say why."""
    result = Verification()
    first_unsealed = None
    after = 0
    while True:
        rows = session.execute(select(*_READ).where(EVENTS.c.id > after).order_by(EVENTS.c.id)
                               .limit(batch)).mappings().all()
        if not rows:
            return result
        for row in rows:
            result.checked += 1
            if row["hash"] is None and row["prev_hash"] is None:
                result.unsealed += 1
                first_unsealed = first_unsealed or row["id"]
                continue
            reason = None
            if first_unsealed is not None:
                reason = f"sealed, but event {first_unsealed} before it is not"
            elif row["hash"] is None or row["prev_hash"] is None:
                reason = "half sealed (one of prev_hash and hash is empty)"
            elif row["prev_hash"] != result.head:
                reason = "does not follow the event before it (an event was removed or inserted, or the chain reset)"
            elif chain_hash(result.head, row) != row["hash"]:
                reason = "its content no longer matches its hash (changed after sealing)"
            if reason:
                result.broken_id, result.reason = row["id"], reason
                return result
            result.sealed += 1
            result.head = row["hash"]
        after = rows[-1]["id"]
