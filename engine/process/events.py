"""The audit log: one append-only event row per thing that happened, written in the caller's transaction."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.process.models import Event


def record_event(session: Session, now: datetime, kind: str, actor_id: int | None = None, *,
                 instance_id: int | None = None, hazard_id: int | None = None, task_id: int | None = None,
                 **data) -> Event:
    """Append one audit event in the caller's transaction."""
    event = Event(occurred_at=now, kind=kind, actor_id=actor_id, instance_id=instance_id, hazard_id=hazard_id,
                  task_id=task_id, data=data)
    session.add(event)
    return event
