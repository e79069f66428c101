"""Every export that writes typed text keeps it inert: an Excel cell typed as text, a CSV cell behind an apostrophe."""
from __future__ import annotations

import io
from datetime import datetime, timezone

from openpyxl import Workbook, load_workbook

from engine.admin import imports
from engine.assessment import excel as assessment_excel
from engine.assessment.performance import FIGURES
from engine.infra.xlsx import csv_safe_row, csv_text, safe_row
from engine.reports import excel as statistics_excel

FORMULA = '=HYPERLINK("http://x")'
AS_OF = datetime(2026, 11, 6, 2, 0, tzinfo=timezone.utc)


def _cells(data: bytes, sheet: str | None = None) -> list:
    book = load_workbook(io.BytesIO(data))
    return [c for row in (book[sheet] if sheet else book.active).iter_rows() for c in row if c.value == FORMULA]


def test_safe_row_keeps_formula_starts_as_text_in_a_normal_and_a_write_only_sheet():
    for book in (Workbook(), Workbook(write_only=True)):
        sheet = book.active if book.active is not None else book.create_sheet()
        sheet.append(safe_row(sheet, [FORMULA, "+1", "-1", "@x", "plain", 3]))
        buffer = io.BytesIO()
        book.save(buffer)
        row = next(load_workbook(io.BytesIO(buffer.getvalue())).active.iter_rows())
        assert [c.value for c in row] == [FORMULA, "+1", "-1", "@x", "plain", 3]
        assert [c.data_type for c in row[:4]] == ["s"] * 4


def test_csv_guard_is_taken_off_again_on_import_and_leaves_other_text_alone():
    guarded = csv_safe_row([FORMULA, "'quoted", "安全", 7])
    assert guarded == ["'" + FORMULA, "'quoted", "安全", 7]
    assert [csv_text(v) for v in guarded[:3]] == [FORMULA, "'quoted", "安全"]


def test_org_and_roster_files_keep_a_formula_inert_and_read_back_the_same(tmp_path):
    rows = [list(imports.ROSTER_COLUMNS), [FORMULA, "T001", "+8613800000000", "", "S01", "教职工"]]
    target = tmp_path / "roster.csv"
    imports.write_csv(rows, target)
    assert target.read_text(encoding="utf-8-sig").splitlines()[1].startswith("\"'=HYPERLINK")
    buffer = io.BytesIO()
    imports.write_xlsx(rows, buffer)
    [cell] = _cells(buffer.getvalue())
    assert cell.data_type == "s"
    for name, data in (("roster.csv", target.read_bytes()), ("roster.xlsx", buffer.getvalue())):
        [(_line, row)] = imports.read_rows(name, data, imports.ROSTER_COLUMNS)
        assert (row["姓名"], row["手机"]) == (FORMULA, "+8613800000000"), name


def _breakdown(label: str) -> dict:
    return {"label": label, "key": label, "total": 1, "grades": {"general": 1}, "closed": 0, "open": 1,
            "overdue": 0, "found_in_period": 1, "closed_in_period": 0}


def test_statistics_workbook_keeps_a_typed_unit_or_category_name_inert():
    figures = {
        "labels": {"grade": {"general": "一般隐患"}}, "by_grade": [{"key": "general"}],
        "scope": {"org_id": 1, "org_name": FORMULA}, "as_of": AS_OF.isoformat(),
        "period": {"start": "2026-11-01", "end": "2026-11-30"},
        "totals": {"total": 1, "closed": 0, "open": 1, "overdue": 0, "found_in_period": 1, "closed_in_period": 0},
        "by_category": [_breakdown(FORMULA)], "by_unit": [_breakdown(FORMULA)],
        "by_status": [{"label": "整改中", "count": 1}], "by_source": [_breakdown("自查")],
    }
    cells = _cells(statistics_excel.statistics_workbook(figures, reporter=FORMULA))
    assert len(cells) == 2 and {c.data_type for c in cells} == {"s"}


def test_assessment_workbooks_keep_a_typed_unit_name_inert():
    counts = {**{f: 1 for f in FIGURES}, "on_time_rate": 1.0}
    perf = assessment_excel.performance_workbook("某职业学院", "2026-11-01", "2026-11-30", AS_OF,
                                                 [{"name": FORMULA, "patrol": counts, "self_check": counts}])
    [cell] = _cells(perf)
    assert cell.data_type == "s"
    record = {"type": "patrol", "id": 1, "label": FORMULA, "on": "2026-11-02", "got": 1, "of": 1, "note": "done"}
    sheet_data = {
        "scheme": {"title": "考核", "items": [{"name": "巡查", "weight": 10}], "pass_mark": 60},
        "school": {"name": "某职业学院"}, "year": 2026, "as_of": AS_OF.isoformat(),
        "units": [{"name": FORMULA, "items": [{"name": "巡查", "score": 10, "records": [record]}], "vetoes": [],
                   "total": 10, "eligible": True, "verdict": "合格", "heads": [{"name": "刘院长", "verdict": "合格"}]}],
    }
    book = assessment_excel.sheet_workbook(sheet_data)
    scores, records = _cells(book, assessment_excel.SHEET_TITLE), _cells(book, assessment_excel.RECORDS_TITLE)
    assert len(scores) == 1 and len(records) == 2 and {c.data_type for c in scores + records} == {"s"}
