"""The port between the engine and the channels: the message type and the Notifier protocol."""
from engine.delivery import Message, Notifier

__all__ = ["Message", "Notifier"]
