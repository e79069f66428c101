"""The navigation bar and the task page at a phone's, a tablet's and a laptop's width, in Chinese and English."""
from __future__ import annotations

import re

import pytest

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow

WRAPPED_LABELS = """() => [...document.querySelectorAll('nav.navbar .nav-link')]
    .filter(a => a.offsetParent !== null && a.getClientRects().length > 1 || a.getBoundingClientRect().height > 45)
    .map(a => a.innerText.trim())"""
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
COVERED = """(sel) => { const el = document.querySelector(sel); const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !(hit === el || el.contains(hit)); }"""


def test_the_widest_bar_stays_on_one_line_at_1366_in_both_languages(browser, live_server, screenshots):
    admin = Desk(browser, live_server, "admin", viewport={"width": 1366, "height": 768})
    page = admin.page
    for language in ("zh", "en"):
        if language == "en":
            with page.expect_navigation():
                page.click("nav [data-testid=lang-en]")
        assert page.evaluate(WRAPPED_LABELS) == [], f"a label breaks inside a word ({language})"
        assert page.evaluate(OVERFLOW) <= 1, f"the page scrolls sideways at 1366 px ({language})"
        assert page.locator("nav.navbar").bounding_box()["height"] < 70, f"the bar wraps onto a second line ({language})"
        page.screenshot(path=str(screenshots / f"nav_1366_{language}.png"))


@pytest.mark.parametrize("width", [390, 820])
def test_on_phones_and_tablets_the_bell_shows_and_the_claim_button_is_not_covered(browser, live_server, screenshots,
                                                                                  width):
    security = Desk(browser, live_server, "security", viewport={"width": width, "height": 844})
    page = security.page
    assert page.locator("[data-testid=bell]").is_visible(), "the bell is outside the folded menu"
    assert not page.locator("[data-testid=nav-campaigns]").is_visible(), "the menu itself is folded"
    page.locator("[data-testid^=task-] a.fw-semibold").first.click()  # the inbox opened on 组内待认领
    page.wait_for_url(re.compile(r".*/tasks/\d+$"))
    page.locator("[data-testid=claim]").scroll_into_view_if_needed()
    assert not page.evaluate(COVERED, "[data-testid=claim]"), "the next card covers 认领任务"
    assert page.evaluate(OVERFLOW) <= 1
    page.screenshot(path=str(screenshots / f"task_claim_{width}.png"), full_page=True)
    page.click("[data-testid=claim]")
    page.wait_for_selector("[data-testid=task-form]")
    assert page.get_by_role("button", name="放弃认领").is_visible()
