"""How a failed delivery is tried again: one policy for outbox rows (delivery.py) and BPMN messages (messaging.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: after the n-th failed try wait base * 2**(n-1), at most cap; give up after max_attempts."""

    max_attempts: int = 5
    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the n-th failed try: 1, 2, 4, 8 minutes ... at most an hour by default."""
        return min(self.base * (2 ** max(attempts - 1, 0)), self.cap)

    def exhausted(self, attempts: int) -> bool:
        """True when n tries were all there are: the delivery ends failed."""
        return attempts >= self.max_attempts

    def retry_at(self, now: datetime, attempts: int) -> datetime | None:
        """When to try again after the n-th failed try at `now`; None when the tries are exhausted."""
        return None if self.exhausted(attempts) else now + self.delay(attempts)


# Five tries, 1, 2, 4, 8 minutes apart: what both delivery queues use unless told otherwise.
DEFAULT_RETRIES = RetryPolicy()
