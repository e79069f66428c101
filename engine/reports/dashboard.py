"""驾驶舱: what a leader looks at — open and overdue hazards, where they sit, how fast they close, which schools lag.

Built from the statistics figures (engine.reports.statistics, a grouped count over the scope's hazards) plus one
statement for the twelve-month trend: a fixed number of statements whatever the number of hazards or units.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.rectification.ledger import day_start
from engine.rectification.models import Hazard
from engine.reports import statistics

TREND_MONTHS = 12
TOP_UNITS = 15


def _month_starts(today: date, count: int) -> list[date]:
    first = today.replace(day=1)
    months = [first]
    for _ in range(count - 1):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first)
    return months[::-1]


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _days_to_close(dialect: str):
    """Days from report to 销号 of a closed hazard, as SQL (each backend has its own date arithmetic)."""
    if dialect == "sqlite":
        return func.julianday(Hazard.closed_at) - func.julianday(Hazard.reported_at)
    return func.extract("epoch", Hazard.closed_at - Hazard.reported_at) / 86400.0


def _trend(s: Session, org: OrgNode, today: date) -> list[dict]:
    """Per month of the last twelve (China months): hazards found, closed, and the average days to close."""
    months = _month_starts(today, TREND_MONTHS)
    days = _days_to_close(s.get_bind().dialect.name)
    columns = []
    for n, month in enumerate(months):
        start, end = day_start(month), day_start(_next_month(month))
        found = (Hazard.reported_at >= start) & (Hazard.reported_at < end)
        closed = (Hazard.closed_at >= start) & (Hazard.closed_at < end)
        columns += [func.coalesce(func.sum(case((found, 1), else_=0)), 0).label(f"f{n}"),
                    func.coalesce(func.sum(case((closed, 1), else_=0)), 0).label(f"c{n}"),
                    func.sum(case((closed, days), else_=None)).label(f"d{n}")]
    window = day_start(months[0])
    row = s.execute(select(*columns).where(
        Hazard.unit_id.in_(select(OrgNode.id).where(OrgNode.path.startswith(org.path))),
        (Hazard.reported_at >= window) | (Hazard.closed_at >= window))).one()
    trend = []
    for n, month in enumerate(months):
        closed, total_days = int(row[3 * n + 1] or 0), row[3 * n + 2]
        trend.append({"month": month.strftime("%Y-%m"), "from": month.isoformat(),
                      "to": (_next_month(month) - timedelta(days=1)).isoformat(),
                      "found": int(row[3 * n] or 0), "closed": closed,
                      "avg_days_to_close": round(float(total_days) / closed, 1) if closed and total_days else None})
    return trend


def dashboard(s: Session, user: User, now: datetime, org_id: int | None = None) -> dict:
    """The dashboard of one scope the user may read statistics of (their widest by default), as JSON-ready data.

    NotAllowed without a statistics role, NotFound for a scope outside theirs (statistics.resolve_query)."""
    today = now.astimezone(CHINA).date()
    query = statistics.resolve_query(s, user, now, org_id=org_id, start=_month_starts(today, TREND_MONTHS)[0],
                                     end=today)
    figures = statistics.compute(s, query)
    org = s.get(OrgNode, query.org_id)
    totals = figures["totals"]
    grades = [g["key"] for g in figures["by_grade"]]
    major = next((g for g in figures["by_grade"] if g["key"] == "major"), {"open": 0})
    units = [u for u in figures["by_unit"] if u["overdue"]]
    units.sort(key=lambda u: (-u["overdue"], u["label"]))
    result = {
        "version": 1,
        "scope": figures["scope"],
        "as_of": figures["as_of"],
        "labels": {"grade": figures["labels"]["grade"]},
        "kpis": {"open": totals["open"], "overdue": totals["overdue"], "closed": totals["closed"],
                 "total": totals["total"], "closure_rate": totals["closure_rate"], "major_open": major["open"]},
        "open_by_category": [{"key": c["key"], "label": c["label"], "open": c["open"], "grades": c["grades"]}
                             for c in figures["by_category"] if c["open"]],
        "grades": grades,
        "overdue_by_unit": [{"key": u["key"], "label": u["label"], "overdue": u["overdue"], "open": u["open"]}
                            for u in units[:TOP_UNITS]],
        "trend": _trend(s, org, today),
    }
    if "by_school" in figures:
        schools = [{"key": r["key"], "label": r["label"], "open": r["open"], "overdue": r["overdue"],
                    "closure_rate": statistics_rate(r)} for r in figures["by_school"]]
        schools.sort(key=lambda r: (-r["overdue"], r["closure_rate"] if r["closure_rate"] is not None else 2,
                                    r["label"]))
        result["schools"] = schools
    return result


def statistics_rate(counts: dict) -> float | None:
    """销号率 of a row of counts (closed over all), or None when it holds no hazard."""
    return round(counts["closed"] / counts["total"], 4) if counts.get("total") else None
