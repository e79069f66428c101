"""Every notification kind the code can emit reaches the bell, on both databases.

PostgreSQL enforces VARCHAR lengths where SQLite does not: the statistics table's notice (subject kind
"statistics_report", 17 characters) once stayed `pending` forever on PostgreSQL because the bell's subject_kind
column held 16. Each kind in the headline table is delivered here once for every subject kind the code writes
(read from the source, so a new one is covered without touching this test)."""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from engine.process import delivery
from engine.process.models import InAppNotification, OutboxMessage
from engine.process.outbox import enqueue
from notifications.channels import build_notifiers
from notifications.templates import HEADLINES

ROOT = Path(__file__).resolve().parents[2]


def subject_kinds_in_the_code() -> set[str]:
    """Subject kinds written explicitly in outbox payloads, plus the ones delivery derives from task/hazard ids."""
    written = set()
    for path in (ROOT / "engine").rglob("*.py"):
        written.update(re.findall(r'"subject_kind":\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    return written | {kind for kind, _ in delivery.SUBJECT_KEYS}


def test_the_source_scan_finds_the_subject_kinds():
    assert {"statistics_report", "schedule", "task", "hazard"} <= subject_kinds_in_the_code()


def test_every_kind_with_every_subject_kind_is_delivered_to_the_bell(services, world, clock):
    kinds = sorted(HEADLINES)
    subjects = sorted(subject_kinds_in_the_code())
    with services.uow() as uow:
        for kind in kinds:
            for subject in subjects:
                enqueue(uow.session, clock.now(), kind,
                        {"name": f"{kind} {subject}", "subject_kind": subject, "subject_id": 7},
                        user_id=world.users.security, channel="inapp")
        uow.commit()
    run = delivery.deliver_pending(services, build_notifiers(services, environ={}), limit=10_000)
    assert run.failed == 0, run
    with services.uow() as uow:
        s = uow.session
        left = s.execute(select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.last_error)
                         .where(OutboxMessage.status != "sent")).all()
        assert left == []
        delivered = set(s.execute(select(InAppNotification.kind, InAppNotification.subject_kind)
                                  .where(InAppNotification.user_id == world.users.security)).all())
    assert delivered == {(kind, subject) for kind in kinds for subject in subjects}
