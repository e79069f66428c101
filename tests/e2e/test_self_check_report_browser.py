"""The printable 自查报告 in a real browser: from the unit's checklist to the A4 sheet at 390, 820 and 1366 px, printed
without the navigation."""
from __future__ import annotations

import re

import pytest

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow

WIDTHS = (390, 820, 1366)


def test_a_unit_head_prints_the_signed_self_check_report_at_three_widths(browser, live_server, screenshots, tmp_path):
    # The demo's 后勤管理处 has answered every item and its head 周处长 has signed.
    head = Desk(browser, live_server, "head_hq", viewport={"width": WIDTHS[0], "height": 844})
    page = head.open("/campaigns")
    page.locator("[data-testid^=my-checklist-]").first.click()
    page.click("[data-testid=report-link]")
    page.wait_for_url(re.compile(r".*/campaigns/\d+/units/\d+/report$"))
    sheet = page.locator("[data-testid=self-check-report]")
    assert "后勤管理处" in page.inner_text("[data-testid=report-unit]")
    assert "周处长" in page.inner_text("[data-testid=report-signature]")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert sheet.is_visible() and page.locator("[data-testid=print]").is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the report scrolls sideways at {width}px"
        page.screenshot(path=str(screenshots / f"self_check_report_{width}.png"), full_page=True)

    page.emulate_media(media="print")
    assert not page.locator("nav.navbar").is_visible() and not page.locator("[data-testid=print]").is_visible()
    assert page.locator("[data-testid=report-sign-lines]").is_visible()
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert 1 <= pages <= 4, f"the report should print on a few A4 sheets, got {pages}"
