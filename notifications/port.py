"""The port between the engine and the channels: the message type and the Notifier protocol."""
from engine.process.delivery import Message, Notifier

__all__ = ["Message", "Notifier"]
