"""The statistics figures as an .xlsx file laid out like the official 《校园安全专项整治工作隐患问题统计表》.

A title row naming the school, a line with the reporting unit, the period and the moment, then one bordered
table per section (totals; category × grade; responsible unit; status; the stage that found the hazard), each
with Chinese headers and a 合计 row, and the signature line (填报人 / 审核人 / 填报日期) at the foot.
"""
from __future__ import annotations

import io
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from engine.infra.timezone import CHINA
from engine.infra.xlsx import safe_row
from engine.org import accounts
from engine.org.models import OrgNode
from engine.rectification.ledger import head_name
from engine.reports.snapshots import REPORT_TITLE

SHEET_TITLE = "隐患问题统计表"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SECTIONS = ("一、总体情况", "二、按隐患类别和等级", "三、按责任单位", "四、按整改状态", "五、按发现途径")
SCHOOL_SECTION = "三（续）、按学校"
# The count columns every breakdown shows, after its grade columns.
COUNT_HEADERS = (("closed", "已销号"), ("open", "未销号"), ("overdue", "逾期未整改"),
                 ("found_in_period", "本期新发现"), ("closed_in_period", "本期销号"))
_THIN = Side(style="thin")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")


def _rate_text(closed: int, total: int) -> str:
    return f"{closed / total:.1%}" if total else "—"


class _Writer:
    def __init__(self, sheet, width: int):
        self.sheet, self.width = sheet, width

    def line(self, values: list, bold: bool = False, merge: bool = False, size: int | None = None) -> int:
        self.sheet.append(safe_row(self.sheet, values))
        row = self.sheet.max_row
        if merge:
            self.sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=self.width)
        for cell in self.sheet[row]:
            cell.font = Font(bold=bold, size=size) if size else Font(bold=bold)
        return row

    def table(self, title: str, headers: list[str], rows: list[list], total: list | None = None) -> None:
        self.sheet.append([])
        self.line([title], bold=True)
        self.sheet.append(safe_row(self.sheet, headers))
        for cell in self.sheet[self.sheet.max_row]:
            cell.font, cell.fill, cell.border = Font(bold=True), _HEAD_FILL, _BORDER
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        for values in rows + ([total] if total else []):
            self.sheet.append(safe_row(self.sheet, values))
            for index, cell in enumerate(self.sheet[self.sheet.max_row]):
                if index >= len(values):
                    break
                cell.border = _BORDER
                cell.alignment = Alignment(horizontal="left" if index == 1 else "center", vertical="center",
                                           wrap_text=True)
                if total and values is total:
                    cell.font = Font(bold=True)
        if total:
            # 合计 spans the 序号 and name columns, as on the paper form.
            self.sheet.merge_cells(start_row=self.sheet.max_row, start_column=1, end_row=self.sheet.max_row,
                                   end_column=2)


def _grade_cells(row: dict, grade_keys: list[str]) -> list[int]:
    return [row["grades"].get(key, 0) for key in grade_keys]


def _counts(row: dict) -> list[int]:
    return [row[key] for key, _ in COUNT_HEADERS]


def statistics_workbook(figures: dict, school_name: str | None = None, made_on: date | None = None,
                        reporter: str | None = None, reviewer: str | None = None) -> bytes:
    """The figures (engine.statistics.compute or a stored snapshot) as an .xlsx file in the official layout."""
    labels = figures["labels"]
    grade_keys = [g["key"] for g in figures["by_grade"]]
    grade_titles = [labels["grade"].get(k, k) for k in grade_keys]
    count_titles = [title for _, title in COUNT_HEADERS]
    breakdown_headers = ["序号", None, "合计", *grade_titles, *count_titles]
    width = len(breakdown_headers) + 1
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET_TITLE
    w = _Writer(sheet, width)
    scope = figures["scope"]
    title_row = w.line([f"{school_name or scope['org_name']}{REPORT_TITLE}"], bold=True, merge=True, size=16)
    sheet[f"A{title_row}"].alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[title_row].height = 30
    as_of = datetime.fromisoformat(figures["as_of"]).astimezone(CHINA)
    period = figures["period"]
    w.line([f"填报单位：{scope['org_name']}　　统计期间：{period['start']} 至 {period['end']}　　"
            f"统计截至：{as_of:%Y-%m-%d %H:%M}"], merge=True)
    if scope.get("campaign_title"):
        w.line([f"专项整治：{scope['campaign_title']}"], merge=True)

    totals = figures["totals"]
    w.table(SECTIONS[0], ["隐患总数", "已销号", "未销号", "逾期未整改", "本期新发现", "本期销号", "销号率"],
            [[totals["total"], totals["closed"], totals["open"], totals["overdue"], totals["found_in_period"],
              totals["closed_in_period"], _rate_text(totals["closed"], totals["total"])]])

    def breakdown(title: str, name_header: str, rows: list[dict], with_grades: bool = True) -> None:
        headers = [h if h is not None else name_header for h in breakdown_headers] + ["销号率"]
        if not with_grades:
            headers = ["序号", name_header, "合计", *count_titles, "销号率"]
        body = [[n, r["label"], r["total"], *(_grade_cells(r, grade_keys) if with_grades else []), *_counts(r),
                 _rate_text(r["closed"], r["total"])] for n, r in enumerate(rows, start=1)]
        sums = {key: sum(r[key] for r in rows) for key in ("total", *(k for k, _ in COUNT_HEADERS))}
        grade_sums = [sum(r["grades"].get(k, 0) for r in rows) for k in grade_keys] if with_grades else []
        total = ["合计", None, sums["total"], *grade_sums, *(sums[k] for k, _ in COUNT_HEADERS),
                 _rate_text(sums["closed"], sums["total"])]
        w.table(title, headers, body, total)

    breakdown(SECTIONS[1], "隐患类别", figures["by_category"])
    breakdown(SECTIONS[2], "责任单位", figures["by_unit"])
    if figures.get("by_school"):
        breakdown(SCHOOL_SECTION, "学校", figures["by_school"], with_grades=False)
    status_rows = [[n, r["label"], r["count"]] for n, r in enumerate(figures["by_status"], start=1)]
    w.table(SECTIONS[3], ["序号", "整改状态", "数量"], status_rows,
            ["合计", None, sum(r["count"] for r in figures["by_status"])])
    source_headers = ["序号", "发现途径", "合计", *count_titles]
    source_rows = [[n, r["label"], r["total"], *_counts(r)] for n, r in enumerate(figures["by_source"], start=1)]
    w.table(SECTIONS[4], source_headers, source_rows,
            ["合计", None, totals["total"], *(totals[k] for k, _ in COUNT_HEADERS)])

    sheet.append([])
    day = f"{made_on.year} 年 {made_on.month} 月 {made_on.day} 日" if made_on else "_____ 年 ___ 月 ___ 日"
    w.line([f"填报人：{reporter or '________'}　　审核人（主要负责人）：{reviewer or '________'}　　填报日期：{day}"],
           merge=True)
    sheet.column_dimensions["A"].width = 8
    sheet.column_dimensions["B"].width = 24
    for index in range(3, width + 1):
        sheet.column_dimensions[get_column_letter(index)].width = 11
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(s: Session, figures: dict, made_on: date | None = None, reporter: str | None = None) -> tuple[bytes, str]:
    """The workbook of these figures, titled with the scope's school and reviewed by the scope's head, and its
    file name."""
    org = s.get(OrgNode, figures["scope"]["org_id"])
    school = accounts.nearest(s, org, "school") if org is not None else None
    data = statistics_workbook(figures, school_name=school.name if school else None, made_on=made_on,
                               reporter=reporter, reviewer=head_name(s, org) if org is not None else None)
    as_of = datetime.fromisoformat(figures["as_of"]).astimezone(CHINA).date()
    return data, f"{REPORT_TITLE}_{figures['scope']['org_name']}_{as_of.isoformat()}.xlsx"
