"""Assembles the configured channels for a process (the web app and the scheduler use the same set)."""
from __future__ import annotations

import os

from engine.process.delivery import Notifier, inapp_store
from notifications.inapp import InAppNotifier
from notifications.smtp import SmtpNotifier, SmtpSettings
from notifications.webhook import WebhookNotifier


def build_notifiers(services, environ: dict[str, str] | None = None) -> dict[str, Notifier]:
    """In-app and webhook always; e-mail when RECTIFLOW_SMTP_HOST is set."""
    env = os.environ if environ is None else environ
    notifiers: dict[str, Notifier] = {"inapp": InAppNotifier(inapp_store(services)), "webhook": WebhookNotifier()}
    smtp = SmtpSettings.from_env(env)
    if smtp is not None:
        notifiers["email"] = SmtpNotifier(smtp)
    return notifiers
