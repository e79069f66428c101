"""The hazard ledger for the pages: which unit, which filters, the rows and the Excel file (seed 002, attachment 2)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.rectification import ledger as engine_ledger

FILTER_KEYS = ("status", "category", "grade", "date_from", "date_to")
# Lines a page of the ledger shows: a page costs the same whatever the ledger's length.
PAGE_SIZE = 100


@dataclass
class Line:
    """One line of the ledger page: its cell texts, its hazard, and the unit heading to draw above it (or None)."""

    hazard_id: int
    cells: list[str]
    closed: bool
    heading: str | None


@dataclass
class Sheet:
    """What the ledger page draws: the heading, one page of lines, and the page numbers."""

    unit_name: str
    head_name: str
    made_on: str
    lines: list[Line]
    page: int
    pages: int
    total: int


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


def sheet(services, s: Session, user: User, unit: OrgNode, filters: dict, page: int = 1) -> Sheet:
    """One page of the ledger of a unit (or a school, under a heading per unit) as the page shows it."""
    total = engine_ledger.count_rows(s, unit.id, viewer=user, **filters)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = engine_ledger.iter_rows(s, unit.id, viewer=user, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, **filters)
    school_wide = engine_ledger.numbers_across_units(unit)
    lines = [Line(row.hazard_id, [_text(v) for v in row.cells()], row.closed_at is not None,
                  heading if school_wide else None)
             for heading, row in engine_ledger.with_unit_headings(rows)]
    today = services.clock.now().astimezone(CHINA).date().isoformat()
    return Sheet(unit.name, _head_name(s, unit), today, lines, page, pages, total)


def workbook(services, s: Session, user: User, unit: OrgNode, filters: dict) -> tuple[bytes, str]:
    """The Excel file of one unit's ledger and its file name."""
    today = services.clock.now().astimezone(CHINA).date()
    data = engine_ledger.ledger_workbook(s, unit.id, head=_head_name(s, unit), made_on=today, reporter=user.display_name,
                                         contact=user.phone, viewer=user, **filters)
    return data, f"隐患排查整改台账_{unit.name}_{today.isoformat()}.xlsx"

