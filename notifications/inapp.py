"""The in-app bell: stores each message as a notification row through a sink the composition root provides."""
from __future__ import annotations

from typing import Callable

from engine.process.delivery import Message
from notifications.templates import render


class InAppNotifier:
    """Writes a bell entry; the sink keeps one entry per outbox row, so retries never show a message twice."""

    channel = "inapp"

    def __init__(self, sink: Callable[..., None]):
        self.sink = sink

    def send(self, message: Message) -> None:
        """Store the rendered subject and text for the recipient's bell."""
        rendered = render(message, channel=self.channel)
        # No URL here: the sink stores the message's subject and the web layer links to it.
        self.sink(message, rendered.subject.removeprefix("【隐患整改】"), rendered.text)
