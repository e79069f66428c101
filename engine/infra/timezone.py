"""China time: the zone every date a user sees is in, and the end of a working day."""
from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
# A date-only deadline means the end of that working day in China.
END_OF_WORKDAY = time(18, 0)


def as_date(value) -> date | None:
    """A date from an ISO string or date (stage windows are stored as ISO strings)."""
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
