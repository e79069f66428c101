"""Draining the notification outbox: fan events out to users' channels, send each message once, retry failures.

An outbox row without a channel is an event written in the transaction that caused it. `fan_out` turns it into
one row per recipient and channel, as each user chose (immediately, daily digest, or off). `deliver_pending`
sends those rows: it first marks a row 'sending' under a lease and commits, then sends, then marks it 'sent';
a failure goes back to 'pending' with exponential backoff (the shared policy of engine/process/retries.py), and
after its last attempt ends as 'failed' with the error kept for an administrator. A row left 'sending' by a
process that died mid-send is never re-sent blindly (that could duplicate it): when its lease runs out it
becomes 'failed' with "outcome unknown". A sender asked to stop (the scheduler on SIGTERM or SIGINT passes a
`stop` event) checks it between rows: it finishes the send in flight, then releases the rows it claimed but did
not send back to 'pending' (the attempt not counted), so the next run sends each of them once.

Administrators see the rows that ended 'failed' and queue them again (`list_outbox`, `retry_failed`, the
`rectiflow outbox` commands and the 发送失败的通知 page).

The channels are adapters (notifications/) behind the `Notifier` port defined here; the engine imports none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.infra.db import is_postgres
from engine.infra.errors import NotAllowed, NotFound
from engine.org.models import OrgNode, RoleGrant, User
from engine.org.scope import orgs_under
from engine.process.models import (
    InAppNotification,
    NotificationPreference,
    OutboxMessage,
    WebhookEndpoint,
)
from engine.process.outbox import enqueue
from engine.process.retries import DEFAULT_RETRIES, RetryPolicy

MAX_ATTEMPTS = DEFAULT_RETRIES.max_attempts  # an alias of the shared policy's limit, for code that reads it here
SEND_LEASE = timedelta(minutes=5)
# Without a preference row: the bell always, e-mail when the user has an address, digests for reminders only if chosen.
DEFAULT_MODES = {"inapp": "immediate", "email": "immediate"}


@dataclass(frozen=True)
class Message:
    """One message for one channel; `id` is its outbox row, a stable key receivers can deduplicate on."""

    id: int
    channel: str
    kind: str
    payload: dict
    recipient_id: int | None = None
    recipient_name: str | None = None
    email: str | None = None
    locale: str = "zh_CN"
    webhook_url: str | None = None
    webhook_style: str | None = None
    items: list = field(default_factory=list)

    @property
    def subject(self) -> tuple[str, int] | None:
        """What the message is about, as (kind, id), for a link back to it."""
        return subject_of(self.payload)


# Payload keys that name a message's subject, most specific first: a task message opens the task, an incident
# message (incident_opened) the incidents page.
SUBJECT_KEYS = (("task", "task_id"), ("hazard", "hazard_id"), ("incident", "incident_id"))


def subject_of(payload: dict) -> tuple[str, int] | None:
    """(kind, id) of what an outbox payload is about: its explicit subject_kind/subject_id, else its task or hazard."""
    if payload.get("subject_kind") and isinstance(payload.get("subject_id"), int):
        return str(payload["subject_kind"]), payload["subject_id"]
    for kind, key in SUBJECT_KEYS:
        if isinstance(payload.get(key), int):
            return kind, payload[key]
    return None


class Notifier(Protocol):
    """A delivery channel: `send` returns when the message was accepted and raises when it was not."""

    channel: str

    def send(self, message: Message) -> None: ...


@dataclass
class DeliveryRun:
    """What one delivery pass did."""

    fanned_out: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    digests: int = 0
    released: int = 0  # claimed, not sent because the sender was asked to stop: pending again
    stopped: bool = False


class StopFlag(Protocol):
    """What `deliver_pending` reads between rows (a threading.Event): set once the sender should stop."""

    def is_set(self) -> bool: ...


def _lock(stmt, s: Session):
    return stmt.with_for_update(skip_locked=True) if is_postgres(s) else stmt


def effective_mode(prefs: dict[tuple[str, str], str], kind: str, channel: str, user: User) -> str:
    """How one kind of event reaches the user on one channel: their choice for it, else for "*", else the default."""
    mode = prefs.get((kind, channel)) or prefs.get(("*", channel)) or DEFAULT_MODES.get(channel, "off")
    if channel == "email" and not user.email:
        return "off"
    return mode


def _recipients(s: Session, row: OutboxMessage) -> list[User]:
    if row.recipient_id is not None:
        user = s.get(User, row.recipient_id)
        return [user] if user is not None and user.active else []
    if row.recipient_role is None:
        return []
    return list(s.scalars(select(User).join(RoleGrant, RoleGrant.user_id == User.id).where(
        RoleGrant.role == row.recipient_role, RoleGrant.org_id == row.recipient_org_id, User.active.is_(True))
        .order_by(User.id)))


def _fan_out_one(s: Session, row: OutboxMessage, channels: set[str], now: datetime) -> None:
    users = _recipients(s, row)
    prefs_by_user: dict[int, dict] = {}
    if users:
        for p in s.scalars(select(NotificationPreference).where(
                NotificationPreference.user_id.in_([u.id for u in users]))):
            prefs_by_user.setdefault(p.user_id, {})[(p.event_kind, p.channel)] = p.mode
    for user in users:
        for channel in sorted(channels - {"webhook"}):
            mode = effective_mode(prefs_by_user.get(user.id, {}), row.kind, channel, user)
            if mode == "off":
                continue
            enqueue(s, now, row.kind, {**row.payload, "source_id": row.id}, user_id=user.id, channel=channel,
                    status="digest" if mode == "digest" else "pending")
    if "webhook" in channels:
        org_id = row.recipient_org_id if row.recipient_id is None else (users[0].org_id if users else None)
        for endpoint in s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.org_id == org_id,
                                                                WebhookEndpoint.active.is_(True))):
            if endpoint.event_kinds and row.kind not in endpoint.event_kinds:
                continue
            enqueue(s, now, row.kind, {**row.payload, "source_id": row.id, "endpoint_id": endpoint.id},
                    org_id=org_id, channel="webhook")
    row.status, row.sent_at = "dispatched", now


def fan_out(services, channels: set[str], limit: int = 500) -> int:
    """Turn pending outbox events into one row per recipient and chosen channel; each event once."""
    now = services.clock.now()
    with services.uow() as uow:
        s = uow.session
        rows = list(s.scalars(_lock(select(OutboxMessage).where(
            OutboxMessage.status == "pending", OutboxMessage.channel.is_(None), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id).limit(limit), s)))
        for row in rows:
            _fan_out_one(s, row, channels, now)
        uow.commit()
        return len(rows)


def _message(s: Session, row: OutboxMessage) -> Message:
    user = s.get(User, row.recipient_id) if row.recipient_id else None
    endpoint = s.get(WebhookEndpoint, row.payload.get("endpoint_id")) if row.channel == "webhook" else None
    return Message(id=row.id, channel=row.channel, kind=row.kind, payload=dict(row.payload),
                   recipient_id=row.recipient_id, recipient_name=user.display_name if user else None,
                   email=user.email if user else None, locale=user.locale if user else "zh_CN",
                   webhook_url=endpoint.url if endpoint else None, webhook_style=endpoint.style if endpoint else None,
                   items=list(row.payload.get("items", [])))


def _claim(services, channels: set[str], limit: int, now: datetime) -> list[Message]:
    with services.uow() as uow:
        s = uow.session
        # A send that outlived its lease may or may not have gone out: never send it again by itself.
        s.execute(update(OutboxMessage).where(
            OutboxMessage.status == "sending", OutboxMessage.next_attempt_at <= now).values(
            status="failed", last_error="outcome unknown: the sender stopped while sending; check and retry by hand"))
        rows = list(s.scalars(_lock(select(OutboxMessage).where(
            OutboxMessage.status == "pending", OutboxMessage.channel.in_(sorted(channels)),
            OutboxMessage.next_attempt_at <= now).order_by(OutboxMessage.id).limit(limit), s)))
        messages = []
        for row in rows:
            row.status, row.attempts, row.next_attempt_at = "sending", (row.attempts or 0) + 1, now + SEND_LEASE
            messages.append(_message(s, row))
        uow.commit()
        return messages


def _settle(services, message: Message, error: str | None, retries: RetryPolicy) -> str:
    now = services.clock.now()
    with services.uow() as uow:
        s = uow.session
        row = s.get(OutboxMessage, message.id)
        if row is None or row.status != "sending":
            return "lost-lease"
        if error is None:
            row.status, row.sent_at, row.last_error, row.next_attempt_at = "sent", now, None, None
        else:
            row.next_attempt_at = retries.retry_at(now, row.attempts)
            row.status, row.last_error = "pending" if row.next_attempt_at else "failed", error[:2000]
        uow.commit()
        return row.status


def _release(services, message_ids: list[int]) -> int:
    """Give claimed but unsent rows back: 'pending', due now, the claim's attempt not counted."""
    if not message_ids:
        return 0
    with services.uow() as uow:
        result = uow.session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(message_ids), OutboxMessage.status == "sending").values(
            status="pending", next_attempt_at=services.clock.now(), attempts=OutboxMessage.attempts - 1))
        uow.commit()
        return result.rowcount or 0


def deliver_pending(services, notifiers: dict[str, Notifier], limit: int = 200,
                    retries: RetryPolicy = DEFAULT_RETRIES, stop: StopFlag | None = None) -> DeliveryRun:
    """Fan out new events, then send what is due on every configured channel, each message at most once.

    `stop` (e.g. a threading.Event set by a signal handler) is checked before claiming and between rows: once set,
    the send in flight finishes and the rows claimed but not sent go back to 'pending' (`released`).
    """
    if stop is not None and stop.is_set():
        return DeliveryRun(stopped=True)
    run = DeliveryRun(fanned_out=fan_out(services, set(notifiers)))
    now = services.clock.now()
    messages = [] if stop is not None and stop.is_set() else _claim(services, set(notifiers), limit, now)
    for index, message in enumerate(messages):
        if stop is not None and stop.is_set():
            run.stopped = True
            run.released = _release(services, [m.id for m in messages[index:]])
            break
        try:
            notifiers[message.channel].send(message)
            error = None
        except Exception as exc:  # any channel failure is retried; the error text is kept for the admin
            error = f"{type(exc).__name__}: {exc}"
        status = _settle(services, message, error, retries)
        run.sent += status == "sent"
        run.retried += status == "pending"
        run.failed += status == "failed"
    return run


def build_digests(services) -> int:
    """Gather each user's held digest rows per channel into one digest message (the daily digest job)."""
    now = services.clock.now()
    made = 0
    with services.uow() as uow:
        s = uow.session
        rows = list(s.scalars(_lock(select(OutboxMessage).where(OutboxMessage.status == "digest")
                                    .order_by(OutboxMessage.recipient_id, OutboxMessage.channel, OutboxMessage.id), s)))
        groups: dict[tuple[int, str], list[OutboxMessage]] = {}
        for row in rows:
            groups.setdefault((row.recipient_id, row.channel), []).append(row)
        for (user_id, channel), items in groups.items():
            enqueue(s, now, "digest", {"items": [dict(r.payload, kind=r.kind) for r in items]},
                    user_id=user_id, channel=channel)
            for row in items:
                row.status, row.sent_at = "digested", now
            made += 1
        uow.commit()
    return made


OUTBOX_STATES = ("pending", "sending", "sent", "failed", "digest", "digested", "dispatched")


def _admin_scope(s: Session, user: User | None):
    """The outbox rows an administrator may see: addressed to a user, group or webhook in an organisation at or
    under one they administer (rows with no organisation: administrators only). None: the operator (CLI) sees all."""
    if user is None:
        return None
    paths = list(s.scalars(select(OrgNode.path).where(OrgNode.id.in_(
        [g.org_id for g in user.grants if g.role == "admin"]))))
    if not paths:
        raise NotAllowed("only administrators see and retry outbox messages")
    orgs = orgs_under(tuple(paths))
    users_there = select(User.id).where(User.org_id.in_(orgs))
    return or_(OutboxMessage.recipient_id.in_(users_there), OutboxMessage.recipient_org_id.in_(orgs),
               and_(OutboxMessage.recipient_id.is_(None), OutboxMessage.recipient_org_id.is_(None)))


def list_outbox(s: Session, status: str | None = "failed", limit: int = 100, before_id: int | None = None,
                user: User | None = None) -> list[OutboxMessage]:
    """Outbox rows newest first (keyset paged by `before_id`), in `status` (None: all), with their last error.

    `user`: an administrator, who sees the rows in their organisations (NotAllowed for anyone else); None: all."""
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    scope = _admin_scope(s, user)
    if scope is not None:
        stmt = stmt.where(scope)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if before_id is not None:
        stmt = stmt.where(OutboxMessage.id < before_id)
    return list(s.scalars(stmt))


def failed_messages(s: Session, limit: int = 100) -> list[OutboxMessage]:
    """Messages that could not be delivered, newest first, with their last error."""
    return list_outbox(s, "failed", limit)


def _asking(s: Session, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = s.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def retry_failed(services, message_id: int, user_id: int | None = None) -> bool:
    """Queue a failed message again (attempts from zero, due now); False when it is not failed (nothing done).

    `user_id`: the administrator asking (NotFound for a row outside their organisations); None: the operator."""
    with services.uow() as uow:
        s = uow.session
        stmt = update(OutboxMessage).where(and_(OutboxMessage.id == message_id, OutboxMessage.status == "failed"))
        scope = _admin_scope(s, _asking(s, user_id))
        if scope is not None:
            if s.scalar(select(OutboxMessage.id).where(OutboxMessage.id == message_id, scope)) is None:
                raise NotFound(f"outbox message {message_id} does not exist")
        result = s.execute(stmt.values(status="pending", attempts=0, next_attempt_at=services.clock.now()),
                           execution_options={"synchronize_session": False})
        uow.commit()
        return bool(result.rowcount)


def retry_all_failed(services, user_id: int | None = None) -> int:
    """Queue every failed message (in the organisations of administrator `user_id`; None: all) again; how many."""
    with services.uow() as uow:
        s = uow.session
        stmt = update(OutboxMessage).where(OutboxMessage.status == "failed")
        scope = _admin_scope(s, _asking(s, user_id))
        if scope is not None:
            stmt = stmt.where(scope)
        result = s.execute(stmt.values(status="pending", attempts=0, next_attempt_at=services.clock.now()),
                           execution_options={"synchronize_session": False})
        uow.commit()
        return result.rowcount or 0


def inapp_store(services) -> Callable[..., None]:
    """The in-app channel's sink: one bell row per outbox row (a retry finds it there and does nothing).

    The row keeps the message's subject (kind and id); the web layer builds the link, so the engine knows no URLs.
    """

    def store(message: Message, title: str, body: str, link: str | None = None) -> None:
        with services.uow() as uow:
            s = uow.session
            if s.scalar(select(InAppNotification.id).where(InAppNotification.outbox_id == message.id)):
                return
            subject_kind, subject_id = message.subject or (None, None)
            s.add(InAppNotification(outbox_id=message.id, user_id=message.recipient_id, kind=message.kind,
                                    title=title, body=body, link=link, subject_kind=subject_kind,
                                    subject_id=subject_id, created_at=services.clock.now()))
            try:
                uow.commit()
            except IntegrityError:
                return  # stored by a concurrent attempt: delivered exactly once all the same

    return store
