"""A campaign in a real browser: the security office starts one with the proposed values, a college works its
checklist (finding a hazard), and the dashboard shows the college's progress."""
from __future__ import annotations

import re

import pytest

from engine.demo import MORE_UNITS, UNITS

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow


def test_security_office_starts_a_campaign_and_sees_a_college_work_through_its_checklist(browser, live_server,
                                                                                       screenshots):
    # 1. The security office starts a campaign from the shipped seed 001 checklist, changing nothing.
    security = Desk(browser, live_server, "security")
    page = security.open("/campaigns")
    page.click("[data-testid=nav-campaigns]")
    page.click("[data-testid=new-campaign]")
    assert page.input_value("#f-title").endswith("校园安全专项整治")
    assert "十二项整治重点" in page.locator("#f-template option:checked").inner_text()
    # every unit of the demo's first school: its first eight and seed 001's other offices
    assert page.locator("input[name=unit_ids]:checked").count() == len(UNITS) + len(MORE_UNITS) == 14
    page.screenshot(path=str(screenshots / "campaign_new.png"), full_page=True)
    page.click("[data-testid=create-campaign]")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    campaign_id = int(page.url.rsplit("/", 1)[1])
    assert "已发起" in page.inner_text(".alert-success")
    assert page.inner_text("[data-testid=campaign-phase]") == "自查自纠"

    # 2. A college staff member opens the college's checklist from the campaign list and answers three items,
    #    one of them a hazard (its fields appear only when 发现隐患 is chosen).
    staff = Desk(browser, live_server, "staff_jd")
    page = staff.open("/campaigns")
    page.click(f"[data-testid=my-checklist-{campaign_id}]")
    page.wait_for_selector("[data-testid=checklist-form]")
    items = page.locator(".checklist-item")
    items.nth(0).locator("label[for$='-checked']").click()
    items.nth(1).locator("label[for$='-na']").click()
    hazard_item = items.nth(2)
    assert not hazard_item.locator(".hazard-fields").is_visible()
    hazard_item.locator("label[for$='-hazard']").click()
    hazard_item.locator("input[name^=problem-]").fill("安全风险隐患清单未建立")
    hazard_item.locator("input[name^=location-]").fill("机电工程学院办公室")
    page.click("[data-testid=save-checklist]")
    page.wait_for_selector(".alert-success")
    assert "已保存 3 项" in page.inner_text(".alert-success")
    assert page.inner_text("[data-testid=unit-progress]").startswith("已答 3 /")
    assert page.locator("a", has_text="安全风险隐患清单未建立").count() == 1
    page.screenshot(path=str(screenshots / "campaign_unit_checklist.png"), full_page=True)

    # 3. The security office's dashboard shows the college part-way, with its hazard, and the process diagram.
    page = security.open(f"/campaigns/{campaign_id}")
    row = page.locator("[data-testid=unit-table] tbody tr", has_text="机电工程学院")
    assert row.locator("[data-testid^=unit-answered-]").inner_text().startswith("3/")
    assert row.locator("[data-testid^=unit-status-]").inner_text() == "自查中"
    assert "安全风险隐患清单未建立" in page.inner_text("[data-testid=campaign-hazards]")
    page.wait_for_selector("#bpmn-canvas[data-rendered] .djs-container")
    assert page.get_attribute("#bpmn-canvas", "data-rendered") == "collect_returns"
    page.screenshot(path=str(screenshots / "campaign_dashboard.png"), full_page=True)
