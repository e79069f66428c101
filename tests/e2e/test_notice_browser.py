"""The printable 整改通知书 in a real browser: from the list to the notice, printed as A4 without the navigation."""
from __future__ import annotations

import re

import pytest

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow


def test_the_security_office_prints_a_notice_from_the_list(browser, live_server, screenshots, tmp_path):
    # The demo registers four hazards for deadline rectification; each got its notice from the diagram.
    security = Desk(browser, live_server, "security")
    page = security.open("/notices")
    rows = page.locator("[data-testid=notices] tbody tr")
    assert rows.count() == 4
    assert "兰州现代职业学院〔2026〕整改第 004 号" in rows.first.inner_text()
    rows.first.get_by_role("link", name="查看打印").click()
    page.wait_for_url(re.compile(r".*/hazards/\d+/notice$"))
    assert page.inner_text("[data-testid=notice-number]") == "兰州现代职业学院〔2026〕整改第 004 号"
    assert "地下室被用作学生宿舍" in page.inner_text("[data-testid=notice]")
    assert page.locator("nav.navbar").is_visible() and page.locator("[data-testid=print]").is_visible()
    page.screenshot(path=str(screenshots / "notice.png"), full_page=True)

    page.emulate_media(media="print")
    assert not page.locator("nav.navbar").is_visible()
    assert not page.locator("[data-testid=print]").is_visible()
    assert page.locator("[data-testid=notice-receipt]").is_visible()
    page.screenshot(path=str(screenshots / "notice_print.png"), full_page=True)
    pdf = tmp_path / "notice.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert 1 <= pages <= 2, f"the notice should fit on one or two A4 sheets, got {pages}"
