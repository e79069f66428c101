"""The audit chain's hash input is fixed: changing the canonical form would make every sealed log fail to verify."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from engine.process import audit
from engine.process.models import Event

ROW = {"id": 7, "occurred_at": datetime(2026, 11, 2, 1, 0, 0, 123456, tzinfo=timezone.utc), "kind": "TaskCompleted",
       "actor_id": 3, "instance_id": 2, "hazard_id": None, "task_id": 5,
       "data": {"b": [1, 2.5, "整改"], "a": {"z": None, "y": True}},
       "prev_hash": None, "hash": None}  # read with the row, never part of its own hash
CANONICAL = ('{"actor_id":3,"data":{"a":{"y":true,"z":null},"b":[1,2.5,"整改"]},"hazard_id":null,"id":7,'
             '"instance_id":2,"kind":"TaskCompleted","occurred_at":"2026-11-02T01:00:00.123456+00:00","task_id":5}')


def test_the_canonical_document_sorts_keys_keeps_utf8_and_writes_utc():
    assert audit.canonical(ROW) == CANONICAL
    china = timezone(timedelta(hours=8))
    assert audit.canonical({**ROW, "occurred_at": ROW["occurred_at"].astimezone(china)}) == CANONICAL


def test_the_hash_is_sha256_of_the_previous_hash_and_the_document():
    assert audit.GENESIS == "0" * 64
    expected = hashlib.sha256((audit.GENESIS + CANONICAL).encode("utf-8")).hexdigest()
    assert audit.chain_hash(audit.GENESIS, ROW) == expected == (
        "aadda95f5bbfe28cf4f144477a8b167d034e4df7a4075cd756c4541b568d0b27")
    assert audit.chain_hash(expected, ROW) != expected  # the same event elsewhere in the chain hashes differently


def test_every_hashed_column_changes_the_hash():
    base = audit.chain_hash(audit.GENESIS, ROW)
    changed = {"id": 8, "occurred_at": ROW["occurred_at"] + timedelta(microseconds=1), "kind": "TaskClaimed",
               "actor_id": 4, "instance_id": None, "hazard_id": 1, "task_id": 6, "data": {}}
    assert set(changed) == set(audit.HASHED)
    for name, value in changed.items():
        assert audit.chain_hash(audit.GENESIS, {**ROW, name: value}) != base, name


def test_every_column_of_events_but_the_chain_itself_is_hashed():
    assert set(audit.HASHED) == {c.name for c in Event.__table__.columns} - {"prev_hash", "hash"}
