"""The school's ledger (台账) in a real browser: 序号 runs on under a heading per unit, a line opens its hazard, and
the page fits a phone's, a tablet's and a laptop's width."""
from __future__ import annotations

import re

import pytest

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def test_the_school_ledger_numbers_on_under_unit_headings_and_opens_a_hazard(browser, live_server, screenshots):
    desk = Desk(browser, live_server, "security", viewport={"width": 1366, "height": 900})
    page = desk.open("/ledger")
    assert page.locator("[data-testid=ledger-unit-heading]").count() >= 2, "the demo school has hazards in two units"
    numbers = [int(t) for t in page.locator("[data-testid=ledger-row] td:first-child").all_inner_texts()]
    assert numbers == list(range(1, len(numbers) + 1))
    for width in (390, 820, 1366):
        page.set_viewport_size({"width": width, "height": 844})
        page.goto(live_server + "/ledger")
        assert page.evaluate(OVERFLOW) <= 1, f"the ledger scrolls sideways at {width}px"
        page.screenshot(path=str(screenshots / f"ledger_school_{width}.png"), full_page=True)
    link = page.locator("[data-testid=ledger-hazard-link]").first
    problem = link.inner_text()
    link.click()
    page.wait_for_url(re.compile(r".*/hazards/\d+$"))
    assert problem in page.inner_text("main")
