"""The ledger page (台账): rows open their hazard, a school's lines run on under a heading per unit, bounded pages."""
from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from web.pages import ledger as ledger_view

from .ui_fixtures import app, login  # noqa: F401


def _lines(page: str) -> list[str]:
    """The 序号 and unit headings of the ledger table, in order."""
    body = page.split('data-testid="ledger-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'ledger-unit-heading"><th[^>]*>([^<]+)</th>|data-testid="ledger-row"><td>(\d+)</td>', body)


def test_school_ledger_numbers_on_across_units_under_headings_and_links_each_hazard(login, report_hazard, world):
    first = report_hazard(world.users.staff, problem="车床防护罩缺失")
    report_hazard(world.users.logistics_staff, problem="食堂燃气管老化")
    page = login("security").get(f"/ledger?unit={world.orgs.school}").get_data(as_text=True)
    assert [h or n for h, n in _lines(page)] == ["责任单位：机电工程学院", "1", "责任单位：后勤管理处", "2"]
    assert f'<a href="/hazards/{first.id}" data-testid="ledger-hazard-link">车床防护罩缺失</a>' in page


def test_ledger_pages_show_a_bounded_slice_and_the_export_keeps_every_line(login, report_hazard, world, monkeypatch):
    monkeypatch.setattr(ledger_view, "PAGE_SIZE", 2)
    for n in range(3):
        report_hazard(world.users.staff, location=f"部位{n}")
    client = login("security")
    first = client.get(f"/ledger?unit={world.orgs.school}").get_data(as_text=True)
    second = client.get(f"/ledger?unit={world.orgs.school}&page=2").get_data(as_text=True)
    assert [n for _h, n in _lines(first) if n] == ["1", "2"] and "1 / 2" in first
    assert [h or n for h, n in _lines(second)] == ["责任单位：机电工程学院", "3"]  # the unit goes on: headed again
    assert 'data-testid="next-page"' in first and "共 3 条" in first
    sheet = load_workbook(io.BytesIO(client.get(f"/ledger.xlsx?unit={world.orgs.school}&page=2").data)).active
    assert [sheet.cell(n, 1).value for n in range(4, 8)] == ["责任单位：机电工程学院", 1, 2, 3]


def test_ledger_page_shows_a_formula_typed_as_a_problem_as_plain_text(login, report_hazard, world):
    report_hazard(world.users.staff, problem='=HYPERLINK("http://x")')
    client = login("security")
    page = client.get(f"/ledger?unit={world.orgs.college}").get_data(as_text=True)
    assert "=HYPERLINK(&#34;http://x&#34;)" in page
    cell = load_workbook(io.BytesIO(client.get(f"/ledger.xlsx?unit={world.orgs.college}").data)).active["D4"]
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://x")', "s")
