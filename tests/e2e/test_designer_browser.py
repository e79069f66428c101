"""流程设计 in a real browser: an administrator deploys a second version of a shipped diagram with one task renamed,
then the overview, the versions and the diff page (the renamed task marked changed on the diagram and listed) at
390, 820 and 1366 px without sideways scrolling or console errors; a hazard's diagram zooms with its buttons."""
from __future__ import annotations

import re

import pytest

from engine.infra.config import DEFAULT_BPMN_DIR
from tests.zips import zip_of

from .test_closed_loop_browser import Desk
from .test_deploy_browser import WIDTHS, _no_sideways_scrolling

pytestmark = pytest.mark.slow


def _renamed_facility_repair() -> bytes:
    """A zip of the shipped 设施报修 with 审核报修 renamed 复核报修, and the forms it names."""
    diagram = (DEFAULT_BPMN_DIR / "facility_repair.bpmn").read_text(encoding="utf-8")
    forms = sorted(set(re.findall(r'value="(forms/[a-z_]+\.json)"', diagram)))
    members = {"facility_repair.bpmn": diagram.replace('name="审核报修"', 'name="复核报修"').encode("utf-8")}
    members.update({ref: (DEFAULT_BPMN_DIR / ref).read_bytes() for ref in forms})
    return zip_of(members)


def test_a_designer_sees_the_versions_and_the_diff_of_two_versions_at_three_widths(browser, live_server, screenshots):
    admin = Desk(browser, live_server, "admin", viewport={"width": 1366, "height": 900})
    page = admin.page
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server + "/deploy")
    page.set_input_files("[data-testid=deploy-files]", files=[
        {"name": "facility_repair.zip", "mimeType": "application/zip", "buffer": _renamed_facility_repair()}])
    page.check("[data-testid=deploy-replace]")
    page.click("[data-testid=deploy-submit]")
    page.wait_for_selector("[data-testid=deploy-result]")
    assert "v2" in page.inner_text("[data-testid=deployed-facility_repair]")

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server + "/designer")
        row = page.locator("[data-testid=designer-process-hazard_rectification]")
        assert "受保护" in row.inner_text()
        _no_sideways_scrolling(page, width, "designer overview")
        page.screenshot(path=str(screenshots / f"designer_overview_{width}.png"), full_page=True)

        page.click("[data-testid=designer-versions-facility_repair]")
        page.wait_for_selector("[data-testid=version-2]")
        _no_sideways_scrolling(page, width, "designer versions")
        page.click("[data-testid=diff-previous-2]")
        page.wait_for_selector("#diagram-diff[data-diffed]")
        assert page.get_attribute("#diagram-diff", "data-diffed") not in ("0", "error")
        changed = page.locator("#diff-new [data-element-id=approve_repair].diff-changed")
        assert changed.count() == 1 and "复核报修" in changed.text_content()
        assert page.locator("#diff-old [data-element-id=approve_repair].diff-changed").count() == 1
        item = page.locator("[data-testid=diff-change][data-element=approve_repair][data-kind=changed]")
        assert "审核报修 → 复核报修" in item.inner_text()
        item.locator("[data-testid=diff-locate]").click()  # brings the task into view in both diagrams
        assert "部门负责人" in page.text_content("#diff-new [data-element-id=lane_department_head]")  # a role code, relabelled
        _no_sideways_scrolling(page, width, "designer diff")
        page.screenshot(path=str(screenshots / f"designer_diff_{width}.png"), full_page=True)

    page.goto(live_server + "/hazards/1")
    page.wait_for_selector("#bpmn-canvas[data-rendered]")
    before = page.evaluate("document.querySelector('#bpmn-canvas .viewport').getAttribute('transform')")
    page.click("[data-testid=bpmn-canvas-viewer] [data-testid=zoom-in]")
    after = page.evaluate("document.querySelector('#bpmn-canvas .viewport').getAttribute('transform')")
    assert before != after  # the zoom buttons zoom
    assert errors == []
    admin.context.close()
