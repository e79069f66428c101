"""Writing the notification outbox: each message is a row in the transaction that caused it (delivery.py drains it).

`enqueue` adds one row through the session; `outbox_row` gives the same columns as a plain dict, for paths that
write many rows with one multi-row INSERT and build no ORM objects (the escalation sweep). Both start a message
the same way: pending, never tried, due at once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.process.models import OutboxMessage

# The columns `outbox_row` fills, in the order the escalation sweep's INSERT statements name them.
OUTBOX_COLUMNS = ("created_at", "kind", "recipient_id", "recipient_role", "recipient_org_id", "channel", "payload",
                  "status", "attempts", "next_attempt_at")


def outbox_row(now: datetime, kind: str, payload: dict, *, user_id: int | None = None, role: str | None = None,
               org_id: int | None = None, channel: str | None = None, status: str = "pending") -> dict:
    """The columns of one new outbox message (see OUTBOX_COLUMNS), for a multi-row INSERT."""
    # A named user wins: role and org are kept only for a message to a group (delivery reads the row that way).
    return {"created_at": now, "kind": kind, "recipient_id": user_id,
            "recipient_role": None if user_id else role, "recipient_org_id": None if user_id else org_id,
            "channel": channel, "payload": payload, "status": status, "attempts": 0, "next_attempt_at": now}


def enqueue(session: Session, now: datetime, kind: str, payload: dict, *, user_id: int | None = None,
            role: str | None = None, org_id: int | None = None, channel: str | None = None,
            status: str = "pending") -> OutboxMessage:
    """Add one outbox message to the session's transaction, due now (a 'digest' status holds it for the digest)."""
    row = OutboxMessage(**outbox_row(now, kind, payload, user_id=user_id, role=role, org_id=org_id, channel=channel,
                                     status=status))
    session.add(row)
    return row
