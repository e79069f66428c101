"""The 隐患查询 list as an Excel file: exactly the rows the list shows, written row by row in constant memory."""
from __future__ import annotations

from datetime import date, datetime
from typing import IO, Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from engine.infra.timezone import CHINA
from engine.infra.xlsx import safe_row
from engine.rectification.models import Hazard

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = ("编号", "责任单位", "部位", "检查内容", "存在隐患问题", "类别", "等级", "来源", "状态", "责任人",
           "整改期限", "检查时间", "上报时间", "销号时间")
WIDTHS = (8, 18, 18, 22, 40, 12, 10, 12, 10, 10, 12, 12, 18, 18)


def _local(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if moment else None


def write_hazard_list(out: IO[bytes], rows: Iterable[tuple[Hazard, str]], labels: dict[str, dict],
                      title: str, made_on: date) -> int:
    """Write the list to `out` (a write-only workbook: each row goes to disk as it comes); returns the row count.

    `labels` turns stored codes into the reader's words: {"grade": {...}, "source": {...}, "status": {...}}."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("隐患查询")
    for n, width in enumerate(WIDTHS):
        sheet.column_dimensions[chr(ord("A") + n)].width = width
    heading = WriteOnlyCell(sheet, value=title)
    heading.font = Font(bold=True, size=14)
    sheet.append([heading])
    sheet.append([f"导出日期：{made_on.isoformat()}"])
    bold = []
    for text in HEADERS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = Font(bold=True)
        bold.append(cell)
    sheet.append(bold)
    count = 0
    for hazard, unit_name in rows:
        sheet.append(safe_row(sheet, [hazard.id, unit_name, hazard.location, hazard.check_item, hazard.problem,
                      hazard.category, labels["grade"].get(hazard.grade, hazard.grade),
                      labels["source"].get(hazard.source, hazard.source),
                      labels["status"].get(hazard.status, hazard.status), hazard.responsible_person,
                      hazard.deadline, hazard.checked_at, _local(hazard.reported_at), _local(hazard.closed_at)]))
        count += 1
    sheet.append([f"共 {count} 条"])
    book.save(out)
    return count
