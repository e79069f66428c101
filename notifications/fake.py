"""A notifier for tests: records what it was asked to send, and can be told to fail."""
from __future__ import annotations

from engine.process.delivery import Message


class FakeNotifier:
    """Keeps every sent message in `sent`; raises `fail_with` instead while it is set."""

    def __init__(self, channel: str = "inapp"):
        self.channel = channel
        self.sent: list[Message] = []
        self.fail_with: Exception | None = None

    def send(self, message: Message) -> None:
        """Record the message, or fail as configured."""
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)
