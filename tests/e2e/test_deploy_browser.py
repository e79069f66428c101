"""流程部署 in a real browser: a designer opens the page from the navigation, checks a broken diagram (the findings
table), then deploys a diagram and its JSON form picked together and sees the new version, at 390, 820 and 1366 px
without sideways scrolling."""
from __future__ import annotations

import re

import pytest

from tests.web.test_pages_deploy import BROKEN, FLAT_DIAGRAM, FLAT_FORM, FORM_BYTES, GATEWAY_LINE

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow
WIDTHS = (390, 820, 1366)


def _no_sideways_scrolling(page, width: int, what: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the {what} scrolls sideways at {width}px"


def test_a_designer_checks_and_deploys_a_bundle_at_three_widths(browser, live_server, screenshots):
    designer = Desk(browser, live_server, "designer", viewport={"width": 390, "height": 844})
    page = designer.page
    page.click(".navbar-toggler")  # on a phone the navigation is folded away
    page.wait_for_selector(".navbar-collapse.show")  # opened (Bootstrap animates it) before its menu is used
    page.click("[data-testid=nav-more]")  # the less frequent pages sit under 更多
    page.wait_for_selector("[data-testid=nav-more] + .dropdown-menu.show")
    page.click("[data-testid=nav-deploy]")
    page.wait_for_url(re.compile(r".*/deploy$"))

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server + "/deploy")
        page.set_input_files("[data-testid=deploy-files]", files=[
            {"name": "broken.bpmn", "mimeType": "application/xml", "buffer": BROKEN.encode()}])
        page.click("[data-testid=deploy-validate]")
        page.wait_for_selector("[data-testid=check-result]")
        row = page.locator("[data-testid=findings] tr.finding-error").first
        assert row.is_visible()
        assert row.locator("[data-testid=finding-line]").inner_text().endswith(str(GATEWAY_LINE))
        assert "选哪条" in row.inner_text()
        _no_sideways_scrolling(page, width, "check result")
        page.screenshot(path=str(screenshots / f"deploy_check_{width}.png"), full_page=True)

        page.set_input_files("[data-testid=deploy-files]", files=[
            {"name": "purchase_form.bpmn", "mimeType": "application/xml", "buffer": FLAT_DIAGRAM},
            {"name": FLAT_FORM, "mimeType": "application/json", "buffer": FORM_BYTES}])
        page.click("[data-testid=deploy-submit]")
        page.wait_for_selector("[data-testid=deploy-result]")
        result = page.inner_text("[data-testid=deploy-result]")
        assert "部署完成" in result and "purchase_form" in result
        if width == WIDTHS[0]:
            assert "v1" in result and "新版本" in result
        else:  # the same files again: nothing changed, the version stays
            assert "v1" in result and "内容未变" in result
        assert page.locator("[data-testid=process-purchase_form]").is_visible()
        _no_sideways_scrolling(page, width, "deploy result")
        page.screenshot(path=str(screenshots / f"deploy_result_{width}.png"), full_page=True)
    designer.context.close()
