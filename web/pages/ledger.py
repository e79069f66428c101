"""The hazard ledger for the pages: which unit, which filters, the rows and the Excel file (seed 002, attachment 2)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.rectification import ledger as engine_ledger

FILTER_KEYS = ("status", "category", "grade", "date_from", "date_to")


@dataclass
class Sheet:
    """What the ledger page draws: the heading and the rows as lists of cell texts."""

    unit_name: str
    head_name: str
    made_on: str
    rows: list[list[str]]
    closed: list[bool]


def chosen_unit(s: Session, user: User, units: list[OrgNode], unit_id: int | None) -> OrgNode | None:
    """The unit asked for if the user may see it; else the widest they may see (a school before its units)."""
    if unit_id is not None:
        return next((u for u in units if u.id == unit_id), None)
    return units[0] if units else None


def filters_from(args) -> dict:
    """The ledger filters present in a query string (dates parsed, empty values dropped)."""
    values: dict = {}
    for key in FILTER_KEYS:
        raw = (args.get(key) or "").strip()
        if not raw:
            continue
        if key.startswith("date_"):
            try:
                values[key] = date.fromisoformat(raw)
            except ValueError:
                continue
        else:
            values[key] = raw
    return values


def _text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "astimezone"):
        return value.astimezone(CHINA).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _head_name(s: Session, unit: OrgNode) -> str:
    return engine_ledger.head_name(s, unit)


def sheet(services, s: Session, user: User, unit: OrgNode, filters: dict) -> Sheet:
    """The ledger of one unit as the page shows it."""
    rows = engine_ledger.ledger_rows(s, unit.id, viewer=user, **filters)
    cells, closed = [], []
    for row in rows:
        cells.append([_text(v) for v in row.cells()])
        closed.append(row.closed_at is not None)
    today = services.clock.now().astimezone(CHINA).date().isoformat()
    return Sheet(unit.name, _head_name(s, unit), today, cells, closed)


def workbook(services, s: Session, user: User, unit: OrgNode, filters: dict) -> tuple[bytes, str]:
    """The Excel file of one unit's ledger and its file name."""
    today = services.clock.now().astimezone(CHINA).date()
    data = engine_ledger.ledger_workbook(s, unit.id, head=_head_name(s, unit), made_on=today, reporter=user.display_name,
                                         contact=user.phone, viewer=user, **filters)
    return data, f"隐患排查整改台账_{unit.name}_{today.isoformat()}.xlsx"

