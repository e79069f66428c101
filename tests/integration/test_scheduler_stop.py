"""SIGTERM stops `rectiflow scheduler` (and a one-off `rectiflow deliver`) gracefully: the send in flight
finishes, the rest of the batch is released.

A real `rectiflow scheduler` (or `deliver`) process delivers a batch of e-mails to a local SMTP server that takes a
while per message; it is sent SIGTERM mid-batch. It must exit 0, leave no row 'failed' ("outcome unknown") or 'sending',
give the rows it had claimed but not sent back to 'pending', and a later run sends each of those exactly once.
"""
from __future__ import annotations

import asyncio
import email
import os
import re
import signal
import socket
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from engine.org.models import User
from engine.process.models import OutboxMessage

ROOT = Path(__file__).resolve().parents[2]
ROWS = 40
DELAY = 0.25  # seconds the server takes per message: the whole batch takes ~10 s, SIGTERM comes after ~3


class SlowMailbox:
    """An aiosmtpd handler that takes DELAY seconds to accept each message and keeps the outbox ids it got."""

    def __init__(self):
        self.outbox_ids: list[int] = []
        self.delay = DELAY

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        mail = email.message_from_bytes(envelope.content, policy=policy.default)
        self.outbox_ids.append(int(re.search(r"rectiflow-outbox-(\d+)@", mail["Message-ID"]).group(1)))
        return "250 OK"


@pytest.fixture
def slow_smtp():
    box = SlowMailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def _pending_emails(services, world, clock) -> list[int]:
    with services.uow() as uow:
        s = uow.session
        uow.session.execute(update(User).where(User.id == world.users.head).values(email="head@school.example"))
        rows = [OutboxMessage(created_at=clock.now(), kind="task_overdue", recipient_id=world.users.head,
                              channel="email", status="pending", attempts=0, next_attempt_at=clock.now(),
                              payload={"task_id": n, "name": f"落实整改 {n}"}) for n in range(ROWS)]
        s.add_all(rows)
        uow.commit()
        return [r.id for r in rows]


def _rows(services) -> list[OutboxMessage]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email")
                                        .order_by(OutboxMessage.id)))


@pytest.mark.parametrize("command", ["scheduler", "deliver"])
def test_sigterm_mid_batch_finishes_the_send_in_flight_and_releases_the_rest(
        services, world, clock, slow_smtp, database_url, command):
    box, port = slow_smtp
    ids = _pending_emails(services, world, clock)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RECTIFLOW_DATABASE_URL": database_url,
           "RECTIFLOW_SMTP_HOST": "127.0.0.1", "RECTIFLOW_SMTP_PORT": str(port)}
    env.pop("RECTIFLOW_TEST_PG_URL", None)
    process = subprocess.Popen([sys.executable, "-c", "from web.cli.main import main; main()", command],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(box.outbox_ids) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert len(box.outbox_ids) >= 3, "the scheduler never started sending"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    if command == "scheduler":
        assert "SIGTERM: stopping" in output and "scheduler stopped" in output, output
    else:
        assert "(stopped by a signal)" in output, output

    rows = _rows(services)
    by_status: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        by_status.setdefault(row.status, []).append(row)
    assert set(by_status) <= {"sent", "pending"}, {k: [r.last_error for r in v] for k, v in by_status.items()}
    assert not any("outcome unknown" in (r.last_error or "") for r in rows)
    sent_before = sorted(r.id for r in by_status.get("sent", []))
    assert sorted(box.outbox_ids) == sent_before, "what was marked sent is exactly what the server received"
    released = by_status.get("pending", [])
    assert released, "SIGTERM came mid-batch: some claimed rows were not sent and went back to pending"
    assert all(r.attempts == 0 and r.last_error is None for r in released), "a released row lost no attempt"

    box.delay = 0  # the later run need not be slow
    later = subprocess.run([sys.executable, "-c", "from web.cli.main import main; main()", "deliver"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
    assert later.returncode == 0, later.stderr
    assert f"sent={len(released)} " in later.stdout, later.stdout
    assert sorted(box.outbox_ids) == sorted(ids), "each message reached the server exactly once"
    assert {r.status for r in _rows(services)} == {"sent"}
