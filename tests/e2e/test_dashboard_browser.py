"""驾驶舱 in a real browser: a leader lands on it, its ECharts draw, and a bar of the overdue-by-unit chart opens
exactly that unit's overdue hazards; checked at a phone's, a tablet's and a laptop's width."""
from __future__ import annotations

import re

import pytest

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
# The pixel centre of the last bar of the overdue-by-unit chart (ECharts' own coordinate conversion).
LAST_UNIT_BAR = """() => { const el = document.getElementById('chart-units'); const chart = echarts.getInstanceByDom(el);
  const option = chart.getOption(); const names = option.yAxis[0].data; const values = option.series[0].data;
  const i = names.length - 1; const [x, y] = chart.convertToPixel({seriesIndex: 0}, [values[i] / 2, i]);
  const box = el.getBoundingClientRect(); return {x: box.left + x, y: box.top + y, name: names[i], count: values[i]}; }"""


def test_a_leader_clicks_the_overdue_bar_of_a_unit(browser, live_server, screenshots, clock):
    from datetime import timedelta

    clock.advance(timedelta(days=40))  # the demo's open steps are past due by now
    leader = Desk(browser, live_server, "leader", viewport={"width": 1366, "height": 900})
    page = leader.page
    assert page.url.endswith("/dashboard")
    page.wait_for_selector("#dashboard[data-drawn=true]")
    assert page.get_attribute("#dashboard", "data-error") is None
    assert page.locator("[data-testid=dashboard-approvals]").is_visible()
    bar = page.evaluate(LAST_UNIT_BAR)
    assert bar["count"] >= 1
    page.screenshot(path=str(screenshots / "dashboard_1366.png"), full_page=True)
    page.mouse.click(bar["x"], bar["y"])
    page.wait_for_url(re.compile(r".*/hazards\?.*overdue=1.*"))
    assert page.locator("[data-testid^=hazard-row-]").count() == bar["count"]
    assert bar["name"] in page.inner_text("[data-testid=hazard-list]")
    for width in (390, 820):
        page.set_viewport_size({"width": width, "height": 844})
        page.goto(live_server + "/dashboard")
        page.wait_for_selector("#dashboard[data-drawn=true]")
        assert page.evaluate(OVERFLOW) <= 1, f"the dashboard scrolls sideways at {width}px"
        page.screenshot(path=str(screenshots / f"dashboard_{width}.png"), full_page=True)
