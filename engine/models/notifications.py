"""Notifications: the in-app bell, each user's channel choices, and group-robot webhooks."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import JSONType, UTCDateTime
from .core import Base

CHANNELS = ("inapp", "email", "webhook")
DELIVERY_MODES = ("immediate", "digest", "off")


class InAppNotification(Base):
    """One message in a user's bell; unique per outbox row so a retry never shows it twice."""

    __tablename__ = "inapp_notifications"
    __table_args__ = (Index("ix_inapp_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))  # a site path, for rows with no subject (older rows)
    # What the message is about, e.g. ("task", 12) or ("hazard", 3); the web layer turns it into a URL.
    subject_kind: Mapped[str | None] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationPreference(Base):
    """Which events reach a user by which channel: immediately, in the daily digest, or not at all."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "event_kind", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    event_kind: Mapped[str] = mapped_column(String(64))  # an outbox kind, or "*" for every kind
    channel: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16), default="immediate")


class WebhookEndpoint(Base):
    """A group robot (WeCom/DingTalk style) that receives the events addressed to one organisation."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    style: Mapped[str] = mapped_column(String(16), default="wecom")  # wecom | dingtalk | json
    url: Mapped[str] = mapped_column(String(500))
    event_kinds: Mapped[list] = mapped_column(JSONType, default=list)  # empty: every kind
    active: Mapped[bool] = mapped_column(Boolean, default=True)
