"""The hazard ledger of a unit or a school, and its Excel file in the layout of seed 002, attachment 2.

附件 2 「安全隐患自查整改清单」: a title, a line with 部门（章）/ 主要负责人 / 日期, the ten columns below, then
上报人 and 联系方式 (the reporter's phone). 序号 is the hazard's serial within its responsible unit; dates are China dates.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload

from engine.infra.errors import NotFound
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode, User
from engine.rectification.models import Hazard
from engine.rectification.visibility import visible_hazards_clause

COLUMNS = ("序号", "部位", "检查内容", "存在隐患问题", "整改措施", "整改完成情况", "责任人", "检查时间", "销号时间", "备注")
TITLE_SUFFIX = "安全隐患自查整改清单"
REPEAT_LABEL = "回头看反弹次数"
# Column widths in characters, chosen so the printed A4-landscape sheet reads like the paper form.
_WIDTHS = (6, 16, 20, 30, 30, 20, 10, 12, 12, 16)
# Pseudo-statuses a ledger is usually filtered by, besides the lifecycle stages.
OPEN, CLOSED = "open", "closed"


@dataclass(frozen=True)
class LedgerRow:
    """One line of the ledger, in column order."""

    hazard_id: int
    unit_name: str
    serial: int
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
        return [self.serial, self.location, self.check_item, self.problem, self.measures, self.completion,
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


def ledger_rows(session: Session, org_id: int, *, viewer: User | None = None, status: str | None = None,
                category: str | None = None, grade: str | None = None, date_from: date | None = None,
                date_to: date | None = None) -> list[LedgerRow]:
    """The ledger lines of a unit (its hazards), a school (all its units') or a bureau and above (every school's
    below it), by unit then 序号."""
    org = session.get(OrgNode, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} does not exist")
    where = hazard_filters(status, category, grade, date_from, date_to)
    if org.kind == "school":
        where.append(Hazard.school_id == org.id)
    elif org.kind in ("unit", "grid"):
        where.append(Hazard.unit_id == org.id)
    else:  # a bureau, city or province: every school's hazards below it (an indexed prefix match on the path)
        where.append(OrgNode.path.startswith(org.path))
    if viewer is not None:
        where.append(visible_hazards_clause(viewer, session))
    hazards = session.scalars(
        select(Hazard).join(OrgNode, Hazard.unit_id == OrgNode.id).where(*where)
        .options(joinedload(Hazard.unit)).order_by(OrgNode.path, Hazard.unit_serial, Hazard.id)
    ).all()
    school_wide = org.kind not in ("unit", "grid")
    return [_row(h, school_wide) for h in hazards]


def _row(h: Hazard, school_wide: bool) -> LedgerRow:
    # A school-wide sheet repeats 序号 per unit, so each line names its unit. A hazard a look-back found open
    # again says so in 备注: the seed layout has exactly these ten columns, so the count goes there.
    unit = f"责任单位：{h.unit.name}" if school_wide else None
    repeats = f"{REPEAT_LABEL}：{h.repeat_count}" if h.repeat_count else None
    remarks = "；".join(part for part in (unit, repeats, h.remarks) if part) or None
    return LedgerRow(
        hazard_id=h.id, unit_name=h.unit.name, serial=h.unit_serial, location=h.location, check_item=h.check_item,
        problem=h.problem, measures=h.measures or h.plan_measures, completion=h.completion,
        responsible_person=h.responsible_person or h.plan_owner,
        checked_at=h.checked_at or _china_date(h.reported_at), closed_at=_china_date(h.closed_at), remarks=remarks,
        repeat_count=h.repeat_count or 0,
    )


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
    """The ledger as an .xlsx file in the layout of seed 002, attachment 2 (`contact`: the reporter's 联系方式)."""
    org = session.get(OrgNode, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} does not exist")
    rows = ledger_rows(session, org_id, viewer=viewer, **filters)
    head = head_name(session, org) if head is None else head
    book = Workbook()
    sheet = book.active
    sheet.title = "隐患整改清单"
    last = get_column_letter(len(COLUMNS))
    sheet.append([f"{_school_name(session, org)}{TITLE_SUFFIX}"])
    sheet.merge_cells(f"A1:{last}1")
    sheet["A1"].font = Font(size=16, bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[1].height = 30
    day = f"{made_on.year} 年 {made_on.month} 月 {made_on.day} 日" if made_on else "_____ 年 _____ 月 _____ 日"
    sheet.append([f"部门（章）：{org.name}", None, None, None, f"主要负责人：{head}", None, None, f"日期：{day}"])
    for span in ("A2:D2", "E2:G2", f"H2:{last}2"):
        sheet.merge_cells(span)
    sheet.append(list(COLUMNS))
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
    for row in rows:
        sheet.append(row.cells())
        for index, cell in enumerate(sheet[sheet.max_row]):
            cell.border = border
            cell.alignment = Alignment(vertical="top", wrap_text=True)
            if index in (7, 8):
                cell.number_format = "yyyy-mm-dd"
    sheet.append([])
    sheet.append([f"上报人：{reporter or ''}"])
    sheet.append([f"联系方式：{contact or ''}"])
    for index, width in enumerate(_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A4"
    sheet.page_setup.orientation = "landscape"
    sheet.print_title_rows = "3:3"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
