"""E-mail over SMTP: settings from the environment, Chinese text and HTML bodies, a stable Message-ID per message."""
from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr

from engine.process.delivery import Message
from notifications.templates import render


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    sender: str = "rectiflow@localhost"
    sender_name: str = "隐患排查整治系统"
    starttls: bool = False
    timeout: float = 10.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "SmtpSettings | None":
        """RECTIFLOW_SMTP_HOST (required to enable e-mail), _PORT, _USER, _PASSWORD, _FROM, _STARTTLS."""
        env = os.environ if environ is None else environ
        if not env.get("RECTIFLOW_SMTP_HOST"):
            return None
        return cls(host=env["RECTIFLOW_SMTP_HOST"], port=int(env.get("RECTIFLOW_SMTP_PORT", "25")),
                   username=env.get("RECTIFLOW_SMTP_USER") or None, password=env.get("RECTIFLOW_SMTP_PASSWORD") or None,
                   sender=env.get("RECTIFLOW_SMTP_FROM", cls.sender),
                   starttls=env.get("RECTIFLOW_SMTP_STARTTLS", "") in ("1", "true", "yes"))


class SmtpNotifier:
    """Sends one e-mail per message; raises on any SMTP or connection error so the outbox retries."""

    channel = "email"

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def build(self, message: Message) -> EmailMessage:
        """The e-mail for a message: multipart text + HTML, Message-ID derived from the outbox id."""
        if not message.email:
            raise ValueError(f"recipient {message.recipient_id} has no e-mail address")
        rendered = render(message)
        mail = EmailMessage()
        mail["Subject"] = rendered.subject
        mail["From"] = formataddr((self.settings.sender_name, self.settings.sender))
        mail["To"] = formataddr((message.recipient_name or "", message.email))
        # The same outbox row always yields the same Message-ID, so a receiver can spot a duplicate.
        domain = self.settings.sender.rpartition("@")[2] or "rectiflow.local"
        mail["Message-ID"] = f"<rectiflow-outbox-{message.id}@{domain}>"
        mail.set_content(rendered.text)
        mail.add_alternative(rendered.html, subtype="html")
        return mail

    def send(self, message: Message) -> None:
        """Deliver one message to the SMTP server."""
        mail = self.build(message)
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as client:
            if s.starttls:
                client.starttls()
            if s.username:
                client.login(s.username, s.password or "")
            client.send_message(mail)
