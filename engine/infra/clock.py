"""Injected time: the engine never calls datetime.now() itself."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that only moves when told to (tests, demos, benchmarks)."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to an absolute time."""
        self._now = when

    def advance(self, delta: timedelta | None = None, **kwargs) -> datetime:
        """Move forward by a timedelta or by timedelta keyword arguments."""
        self._now = self._now + (delta or timedelta(**kwargs))
        return self._now
