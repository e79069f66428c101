"""The hazard ledger of a unit or a school, and its Excel file in the layout of seed 002, attachment 2.

附件 2 「安全隐患自查整改清单」: a title, a line with 部门（章）/ 主要负责人 / 日期, the ten columns below, then
上报人 and 联系方式 (the reporter's phone). On a unit's ledger 序号 is the hazard's serial within the unit; a school's
(or wider) ledger numbers its lines continuously, each unit's under a heading line. Dates are China dates.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterable, Iterator

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.infra.errors import NotFound
from engine.infra.timezone import CHINA
from engine.infra.xlsx import safe_row, text_cell
from engine.org.models import OrgNode, User
from engine.rectification.models import Hazard
from engine.rectification.visibility import visible_hazards_clause

COLUMNS = ("序号", "部位", "检查内容", "存在隐患问题", "整改措施", "整改完成情况", "责任人", "检查时间", "销号时间", "备注")
TITLE_SUFFIX = "安全隐患自查整改清单"
REPEAT_LABEL = "回头看反弹次数"
# Column widths in characters, chosen so the printed A4-landscape sheet reads like the paper form.
_WIDTHS = (6, 16, 20, 30, 30, 20, 10, 12, 12, 16)
UNIT_HEADING = "责任单位"
_THIN = Side(style="thin")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_SCHOOL = aliased(OrgNode)
# Pseudo-statuses a ledger is usually filtered by, besides the lifecycle stages.
OPEN, CLOSED = "open", "closed"


@dataclass(frozen=True)
class LedgerRow:
    """One line of the ledger, in column order."""

    hazard_id: int
    unit_id: int
    unit_name: str  # the responsible unit, after its school's name on a ledger wider than one school
    number: int  # 序号 as printed: the unit's serial on a unit's ledger, the line's position on a wider one
    serial: int  # the hazard's 序号 within its responsible unit
    location: str
    check_item: str | None
    problem: str
    measures: str | None
    completion: str | None
    responsible_person: str | None
    checked_at: date | None
    closed_at: date | None
    remarks: str | None
    repeat_count: int = 0  # 回头看 found it open again this often (反弹次数); shown in 备注

    def cells(self) -> list:
        """The ten cell values, 序号 to 备注."""
        return [self.number, self.location, self.check_item, self.problem, self.measures, self.completion,
                self.responsible_person, self.checked_at, self.closed_at, self.remarks]


def _china_date(value: datetime | None) -> date | None:
    return value.astimezone(CHINA).date() if value is not None else None


def day_start(day: date) -> datetime:
    """00:00 China time of a date (periods are China dates)."""
    return datetime.combine(day, time.min, CHINA)


def hazard_filters(status=None, category=None, grade=None, date_from=None, date_to=None) -> list:
    clauses = []
    if status == OPEN:
        clauses.append(Hazard.closed_at.is_(None))
    elif status == CLOSED:
        clauses.append(Hazard.closed_at.is_not(None))
    elif status:
        clauses.append(Hazard.status == status)
    if category:
        clauses.append(Hazard.category == category)
    if grade:
        clauses.append(Hazard.grade == grade)
    # 检查时间 is the check date; hazards without one count from the day they were reported.
    if date_from:
        clauses.append(or_(Hazard.checked_at >= date_from,
                           and_(Hazard.checked_at.is_(None), Hazard.reported_at >= day_start(date_from))))
    if date_to:
        clauses.append(or_(Hazard.checked_at <= date_to,
                           and_(Hazard.checked_at.is_(None),
                                Hazard.reported_at < day_start(date_to) + timedelta(days=1))))
    return clauses


def _ledger_query(session: Session, org: OrgNode, viewer: User | None, filters: dict):
    where = hazard_filters(**filters)
    if org.kind == "school":
        where.append(Hazard.school_id == org.id)
    elif org.kind in ("unit", "grid"):
        where.append(Hazard.unit_id == org.id)
    else:  # a bureau, city or province: every school's hazards below it (an indexed prefix match on the path)
        where.append(OrgNode.path.startswith(org.path))
    if viewer is not None:
        where.append(visible_hazards_clause(viewer, session))
    return (select(Hazard, OrgNode.name, _SCHOOL.name).join(OrgNode, Hazard.unit_id == OrgNode.id)
            .join(_SCHOOL, Hazard.school_id == _SCHOOL.id).where(*where))


def numbers_across_units(org: OrgNode) -> bool:
    """Whether the ledger of `org` spans units (a school or wider): 序号 runs on, under a heading per unit."""
    return org.kind not in ("unit", "grid")


def _org(session: Session, org_id: int) -> OrgNode:
    org = session.get(OrgNode, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} does not exist")
    return org


def count_rows(session: Session, org_id: int, *, viewer: User | None = None, **filters) -> int:
    """How many lines the ledger has (for its pages)."""
    query = _ledger_query(session, _org(session, org_id), viewer, filters)
    return session.scalar(select(func.count()).select_from(query.with_only_columns(Hazard.id).subquery()))


def iter_rows(session: Session, org_id: int, *, viewer: User | None = None, offset: int = 0,
              limit: int | None = None, **filters) -> Iterator[LedgerRow]:
    """The ledger lines of a unit (its hazards), a school (all its units') or a bureau and above (every school's
    below it), by unit then 序号, read in batches: memory stays the same whatever the number of hazards.

    A unit's ledger numbers its lines by the hazard's 序号; a wider one numbers them 1, 2, 3 ... across its units
    (`offset` lines before the first), each unit's lines under a heading (`LedgerRow.unit_name`)."""
    org = _org(session, org_id)
    query = (_ledger_query(session, org, viewer, filters).order_by(OrgNode.path, Hazard.unit_serial, Hazard.id)
             .offset(offset).limit(limit).execution_options(yield_per=500))
    school_wide = numbers_across_units(org)
    many_schools = school_wide and org.kind != "school"
    for position, (hazard, unit_name, school_name) in enumerate(session.execute(query), start=offset + 1):
        # Above a school the same unit name recurs (every school has a 后勤管理处): the heading names the school too.
        name = f"{school_name} {unit_name}" if many_schools else unit_name
        yield _row(hazard, name, position if school_wide else hazard.unit_serial)


def ledger_rows(session: Session, org_id: int, *, viewer: User | None = None, status: str | None = None,
                category: str | None = None, grade: str | None = None, date_from: date | None = None,
                date_to: date | None = None) -> list[LedgerRow]:
    """Every ledger line at once (`iter_rows` for a page of them or a file)."""
    return list(iter_rows(session, org_id, viewer=viewer, status=status, category=category, grade=grade,
                          date_from=date_from, date_to=date_to))


def _row(h: Hazard, unit_name: str, number: int) -> LedgerRow:
    # A hazard a look-back found open again says so in 备注: the seed layout has exactly these ten columns, so the
    # count goes there. The responsible unit is the heading above its lines, not a remark.
    repeats = f"{REPEAT_LABEL}：{h.repeat_count}" if h.repeat_count else None
    remarks = "；".join(part for part in (repeats, h.remarks) if part) or None
    return LedgerRow(
        hazard_id=h.id, unit_id=h.unit_id, unit_name=unit_name, number=number, serial=h.unit_serial,
        location=h.location, check_item=h.check_item, problem=h.problem, measures=h.measures or h.plan_measures,
        completion=h.completion, responsible_person=h.responsible_person or h.plan_owner,
        checked_at=h.checked_at or _china_date(h.reported_at), closed_at=_china_date(h.closed_at), remarks=remarks,
        repeat_count=h.repeat_count or 0,
    )


def with_unit_headings(rows: Iterable[LedgerRow]) -> Iterator[tuple[str | None, LedgerRow]]:
    """Each line with the unit heading to draw above it (None while the unit stays the same)."""
    previous = None
    for row in rows:
        yield (row.unit_name if row.unit_id != previous else None), row
        previous = row.unit_id


def head_name(session: Session, org: OrgNode) -> str:
    """The display name of the org's head (主要负责人), or empty."""
    if org.head_user_id is None:
        return ""
    return session.scalar(select(User.display_name).where(User.id == org.head_user_id)) or ""


def _school_name(session: Session, org: OrgNode) -> str:
    for org_id in reversed(org.ancestor_ids()):
        node = session.get(OrgNode, org_id)
        if node is not None and node.kind == "school":
            return node.name
    return org.name


def ledger_workbook(session: Session, org_id: int, *, head: str | None = None, made_on: date | None = None,
                    reporter: str | None = None, contact: str | None = None, viewer: User | None = None,
                    **filters) -> bytes:
    """The ledger as an .xlsx file in the layout of seed 002, attachment 2 (`contact`: the reporter's 联系方式).

    Written in openpyxl's write-only mode, row by row as the hazards are read; every typed text stays text."""
    org = _org(session, org_id)
    head = head_name(session, org) if head is None else head
    book = Workbook(write_only=True)
    sheet = book.create_sheet("隐患整改清单")
    # A write-only sheet takes its widths and merges before (widths) or beside (merges) the rows.
    for index, width in enumerate(_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A4"
    sheet.page_setup.orientation = "landscape"
    sheet.print_title_rows = "3:3"
    last = get_column_letter(len(COLUMNS))
    title = text_cell(sheet, f"{_school_name(session, org)}{TITLE_SUFFIX}")
    title.font = Font(size=16, bold=True)
    title.alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[1].height = 30
    sheet.append([title])
    sheet.merged_cells.add(f"A1:{last}1")
    day = f"{made_on.year} 年 {made_on.month} 月 {made_on.day} 日" if made_on else "_____ 年 _____ 月 _____ 日"
    sheet.append(safe_row(sheet, [f"部门（章）：{org.name}", None, None, None, f"主要负责人：{head}", None, None,
                                  f"日期：{day}"]))
    for span in ("A2:D2", "E2:G2", f"H2:{last}2"):
        sheet.merged_cells.add(span)
    sheet.append([_styled(sheet, c, bold=True) for c in COLUMNS])
    row_number = 3
    for heading, row in with_unit_headings(iter_rows(session, org_id, viewer=viewer, **filters)):
        if heading is not None and numbers_across_units(org):
            row_number += 1
            sheet.append([_styled(sheet, f"{UNIT_HEADING}：{heading}", bold=True)])
            sheet.merged_cells.add(f"A{row_number}:{last}{row_number}")
        row_number += 1
        sheet.append([_styled(sheet, value, date_cell=index in (7, 8)) for index, value in enumerate(row.cells())])
    sheet.append([])
    sheet.append(safe_row(sheet, [f"上报人：{reporter or ''}"]))
    sheet.append(safe_row(sheet, [f"联系方式：{contact or ''}"]))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _styled(sheet, value, bold: bool = False, date_cell: bool = False):
    """A bordered, wrapping table cell; a text is never a formula."""
    cell = text_cell(sheet, value)
    cell.border = _BORDER
    if bold:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    else:
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    if date_cell:
        cell.number_format = "yyyy-mm-dd"
    return cell
