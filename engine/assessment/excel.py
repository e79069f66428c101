"""The assessment's Excel files (openpyxl): per-unit inspection performance, and the annual score sheet with its
一票否决 and the records behind every figure (a second sheet, so the workbook is as traceable as the page)."""
from __future__ import annotations

import io
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

from engine.assessment.performance import FIGURES
from engine.infra.timezone import CHINA
from engine.infra.xlsx import safe_row

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERFORMANCE_TITLE = "各单位隐患排查履职情况"
SHEET_TITLE = "年度安全考核评分表"
RECORDS_TITLE = "评分依据记录"
FIGURE_TITLES = {"scheduled": "应查", "done": "按时完成", "late": "逾期完成", "missed": "未完成", "open": "未到期"}
KIND_TITLES = {"patrol": "日常巡查", "self_check": "自查自纠"}
STATUS_TITLES = {"preview": "未提交（预览）", "submitted": "已提交待审定", "returned": "已退回", "signed": "已签发"}
STATE_TITLES = {"done": "按时完成", "late": "逾期完成", "missed": "未完成", "open": "未到期"}
_THIN = Side(style="thin")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")


def _head(sheet, values: list) -> None:
    sheet.append(safe_row(sheet, values))
    for cell in sheet[sheet.max_row]:
        cell.font, cell.fill, cell.border = Font(bold=True), _HEAD_FILL, _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _body(sheet, values: list) -> None:
    sheet.append(safe_row(sheet, values))
    for cell in sheet[sheet.max_row]:
        cell.border = _BORDER


def _title(sheet, text: str, width: int) -> None:
    sheet.append(safe_row(sheet, [text]))
    sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=width)
    cell = sheet.cell(row=sheet.max_row, column=1)
    cell.font, cell.alignment = Font(bold=True, size=16), Alignment(horizontal="center")


def _save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def performance_workbook(school_name: str, start, end, as_of: datetime, rows: list[dict]) -> bytes:
    """Per-unit patrol and self-check figures (performance.unit_performance rows as dicts) as .xlsx."""
    book = Workbook()
    sheet = book.active
    sheet.title = PERFORMANCE_TITLE
    headers = ["序号", "单位"] + [f"{KIND_TITLES[k]}{FIGURE_TITLES[f]}" for k in KIND_TITLES for f in FIGURES] + [
        f"{KIND_TITLES[k]}按时完成率" for k in KIND_TITLES]
    _title(sheet, f"{school_name}{PERFORMANCE_TITLE}", len(headers))
    sheet.append([f"统计期间：{start} 至 {end}　　统计截至：{as_of.astimezone(CHINA):%Y-%m-%d %H:%M}"])
    _head(sheet, headers)
    for n, r in enumerate(rows, start=1):
        _body(sheet, [n, r["name"], *(r[k][f] for k in KIND_TITLES for f in FIGURES),
                      *(_rate(r[k]["on_time_rate"]) for k in KIND_TITLES)])
    sheet.column_dimensions["B"].width = 24
    return _save(book)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def sheet_workbook(sheet_data: dict, status_title: str = "") -> bytes:
    """The score sheet (sheet.compute, as frozen) as .xlsx: one row per unit, then every record behind a figure."""
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET_TITLE
    scheme = sheet_data["scheme"]
    items = scheme["items"]
    headers = ["序号", "单位", *(f"{i['name']}（{_number(i['weight'])}分）" for i in items), "总分", "一票否决",
               "评先资格", "考核结论", "单位负责人"]
    _title(sheet, f"{sheet_data['school']['name']}{sheet_data['year']}年度{scheme['title']}", len(headers))
    as_of = datetime.fromisoformat(sheet_data["as_of"]).astimezone(CHINA)
    sheet.append([f"合格线：{_number(scheme['pass_mark'])} 分　　数据截至：{as_of:%Y-%m-%d %H:%M}"
                  + (f"　　状态：{status_title}" if status_title else "")])
    _head(sheet, headers)
    for n, unit in enumerate(sheet_data["units"], start=1):
        vetoes = "；".join(v["name"] for v in unit["vetoes"]) or "无"
        heads = "、".join(f"{h['name']}（{h['verdict']}）" for h in unit["heads"])
        _body(sheet, [n, unit["name"], *(_number(i["score"]) for i in unit["items"]), _number(unit["total"]),
                      vetoes, "保留" if unit["eligible"] else "取消", unit["verdict"], heads])
    sheet.column_dimensions["B"].width = 24
    records = book.create_sheet(RECORDS_TITLE)
    _head(records, ["单位", "考核项目", "记录类型", "记录编号", "记录", "日期", "得分依据", "说明"])
    for unit in sheet_data["units"]:
        for entry in [*unit["items"], *unit["vetoes"]]:
            for r in entry["records"]:
                _body(records, [unit["name"], entry["name"], r["type"], r["id"], r["label"], r["on"],
                                f"{_number(r['got'])}/{_number(r['of'])}", STATE_TITLES.get(r.get("note"), r.get("note"))])
    records.column_dimensions["E"].width = 40
    return _save(book)


def sheet_export(school_name: str, year: int, status: str, sheet_data: dict) -> tuple[bytes, str]:
    """The score sheet's workbook, headed with its status (preview, submitted, returned, signed), and its file name."""
    return sheet_workbook(sheet_data, STATUS_TITLES[status]), f"{SHEET_TITLE}_{school_name}_{year}.xlsx"


def performance_export(school_name: str, start, end, as_of: datetime, rows: list[dict]) -> tuple[bytes, str]:
    """The performance workbook and its file name."""
    return (performance_workbook(school_name, start, end, as_of, rows),
            f"{PERFORMANCE_TITLE}_{school_name}_{start}_{end}.xlsx")
