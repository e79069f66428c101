"""The in-app bell and channel preferences: unread count, the notification page, marking read, choosing channels."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, NotFound
from engine.org import accounts
from engine.process.models import (
    CHANNELS,
    DELIVERY_MODES,
    InAppNotification,
    NotificationPreference,
)


def unread_count(s: Session, user_id: int) -> int:
    """How many in-app notifications the user has not read (the number on the bell)."""
    return s.scalar(select(func.count()).select_from(InAppNotification).where(
        InAppNotification.user_id == user_id, InAppNotification.read_at.is_(None)))


def notifications(s: Session, user_id: int, page: int = 1, per_page: int = 30,
                  unread_only: bool = False) -> tuple[list[InAppNotification], int]:
    """One page of the user's notifications, newest first, and the total."""
    where = [InAppNotification.user_id == user_id]
    if unread_only:
        where.append(InAppNotification.read_at.is_(None))
    total = s.scalar(select(func.count()).select_from(InAppNotification).where(*where))
    rows = s.scalars(select(InAppNotification).where(*where).order_by(InAppNotification.id.desc())
                     .limit(per_page).offset((max(page, 1) - 1) * per_page))
    return list(rows), total


def read_follows_closed_tasks(s: Session, now, task_ids: list[int]) -> None:
    """Mark read every unread bell entry about tasks that were just completed or cancelled, for every recipient:
    a done task leaves nothing to act on (served by ix_inapp_subject)."""
    if task_ids:
        s.execute(update(InAppNotification).where(
            InAppNotification.subject_kind == "task", InAppNotification.subject_id.in_(task_ids),
            InAppNotification.read_at.is_(None)).values(read_at=now))


def mark_read(services, user_id: int, ids: list[int] | None = None) -> int:
    """Mark some (or all) of the user's notifications read; returns how many changed."""
    with services.uow() as uow:
        stmt = update(InAppNotification).where(InAppNotification.user_id == user_id,
                                               InAppNotification.read_at.is_(None))
        if ids is not None:
            stmt = stmt.where(InAppNotification.id.in_(ids))
        changed = uow.session.execute(stmt.values(read_at=services.clock.now())).rowcount
        uow.commit()
        return changed


@dataclass(frozen=True)
class Opened:
    """What an opened notification is about (the web layer turns it into a page)."""

    subject_kind: str | None
    subject_id: int | None
    link: str | None


def open_notification(services, user_id: int, notification_id: int) -> Opened:
    """Mark one of the user's notifications read and say what it is about; another user's answers NotFound."""
    with services.uow() as uow:
        s = uow.session
        row = s.scalars(select(InAppNotification).where(InAppNotification.id == notification_id,
                                                        InAppNotification.user_id == user_id)).first()
        if row is None:
            raise NotFound(f"notification {notification_id} does not exist")
        if row.read_at is None:
            row.read_at = services.clock.now()
        opened = Opened(row.subject_kind, row.subject_id, row.link)
        uow.commit()
        return opened


def set_preference(services, user_id: int, event_kind: str, channel: str, mode: str) -> None:
    """Choose how one kind of event (or "*" for all) reaches the user on one channel."""
    if channel not in CHANNELS or mode not in DELIVERY_MODES:
        raise InvalidFormData("unknown channel or mode", [{"field": "channel", "message": f"{channel}/{mode}"}])
    with services.uow() as uow:
        s = uow.session
        accounts.get_user(s, user_id)
        pref = s.scalars(select(NotificationPreference).where(
            NotificationPreference.user_id == user_id, NotificationPreference.event_kind == event_kind,
            NotificationPreference.channel == channel)).first()
        if pref is None:
            s.add(NotificationPreference(user_id=user_id, event_kind=event_kind, channel=channel, mode=mode))
        else:
            pref.mode = mode
        uow.commit()


def preferences(s: Session, user_id: int) -> dict[tuple[str, str], str]:
    """The user's explicit choices, by (event kind, channel)."""
    return {(p.event_kind, p.channel): p.mode for p in s.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id))}
