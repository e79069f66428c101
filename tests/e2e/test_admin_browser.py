"""系统管理 in a real browser: the demo's admin opens 组织机构 from the menu, adds a unit, finds and creates a person
and imports a roster with a bad line (the errors by line) then a good one (the one-time passwords), at 390, 820 and
1366 px without sideways scrolling; the new person signs in with the 工号 and must change the password first."""
from __future__ import annotations

import re

import pytest

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow
WIDTHS = (390, 820, 1366)
SCHOOL = "gs-lz-cg-xdzy"


def _no_sideways_scrolling(page, width: int, what: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the {what} scrolls sideways at {width}px"


def test_an_admin_manages_orgs_people_and_imports_at_three_widths(browser, live_server, screenshots):
    admin = Desk(browser, live_server, "admin", viewport={"width": 390, "height": 844})
    page = admin.page
    page.click(".navbar-toggler")  # on a phone the navigation is folded away
    page.click("[data-testid=nav-admin]")
    page.click("[data-testid=nav-orgs]")
    page.wait_for_url(re.compile(r".*/orgs$"))
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server + "/orgs")
        assert "保卫处" in page.inner_text("[data-testid=org-tree]")
        _no_sideways_scrolling(page, width, "org tree")
        page.screenshot(path=str(screenshots / f"admin_orgs_{width}.png"), full_page=True)
        page.locator("[data-testid=org-tree] a").filter(has_text="兰州现代职业学院").first.click()
        form = page.locator("[data-testid=add-child]")
        form.locator("select[name=kind]").select_option("unit")
        form.locator("select[name=unit_type]").select_option("office")
        form.locator("input[name=name]").fill(f"团委{width}")
        form.locator("input[name=code]").fill(f"{SCHOOL}-tw{width}")
        form.locator("button[type=submit]").click()
        page.wait_for_selector(".alert-success")
        _no_sideways_scrolling(page, width, "org page")
        page.screenshot(path=str(screenshots / f"admin_org_{width}.png"), full_page=True)

        page.goto(live_server + "/admin/import")
        bad = f"姓名,工号,手机,邮箱,单位,角色\n甲{width},A{width},,,{SCHOOL}-tw{width},部门工作人员\n乙,B{width},,,无此单位,外星人\n"
        page.locator("[data-testid=import-roster] input[type=file]").set_input_files(
            files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
        page.locator("[data-testid=import-roster] button[type=submit]").click()
        errors = page.inner_text("[data-testid=import-errors]")
        progress = page.locator("[data-testid=import-roster] [data-import-progress]")
        assert progress.get_attribute("data-finished") == "errors"  # drawn by the page's script, no reload
        assert "第 3 行 单位" in errors and "第 3 行 角色" in errors and "第 2 行" not in errors
        _no_sideways_scrolling(page, width, "import errors")
        good = bad.split("\n")[0] + "\n" + bad.split("\n")[1] + "\n"
        page.locator("[data-testid=import-roster] input[type=file]").set_input_files(
            files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": good.encode()}])
        page.locator("[data-testid=import-roster] button[type=submit]").click()
        credentials = page.inner_text("[data-testid=credentials]")
        assert f"A{width}" in credentials
        assert progress.get_attribute("data-finished") == "ok"
        assert page.evaluate("() => { const p = document.querySelector('[data-testid=import-roster] progress');"
                             " return [p.value, p.max]; }") == [1, 1]
        assert "已导入 1 / 1 行" in progress.inner_text()
        _no_sideways_scrolling(page, width, "import result")
        page.screenshot(path=str(screenshots / f"admin_import_{width}.png"), full_page=True)

        page.goto(live_server + f"/people?q=A{width}")
        page.locator("[data-testid=people] a").first.click()
        assert f"甲{width}" in page.inner_text("[data-testid=person-name]")
        _no_sideways_scrolling(page, width, "person page")
        page.screenshot(path=str(screenshots / f"admin_person_{width}.png"), full_page=True)
    code = credentials.split(f"A{WIDTHS[-1]}")[1].split()[0]
    newcomer = browser.new_context(viewport={"width": 390, "height": 844})
    other = newcomer.new_page()
    other.goto(live_server + "/login")
    other.fill("#username", f"A{WIDTHS[-1]}")
    other.fill("#password", code)
    other.press("#password", "Enter")
    other.wait_for_url(re.compile(r".*/profile$"))
    assert "请先修改密码" in other.inner_text("body")
    newcomer.close()
    admin.context.close()
