"""The 流程故障 page in a real browser, at phone, tablet and laptop widths: readable, no sideways scrolling, retry."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.assembly import assemble
from engine.infra.db import make_engine, make_session_factory
from engine.infra.errors import WorkflowFailed
from engine.org import accounts
from engine.process.models import HumanTask
from tests.incident_diagrams import APPROVE, ENTER, PRICE, diagram

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow
WIDTHS = (390, 820, 1366)


def _incident(tmp_path, clock, bpmn_dir) -> int:
    """A task of a designer's process whose completion failed (the live server's database, beside it)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'e2e.sqlite3'}")
    services = assemble(make_session_factory(engine), clock, bpmn_dir)
    try:
        with services.uow() as uow:
            designer = accounts.find_user(uow.session, "designer").id
            security = accounts.find_user(uow.session, "security").id
        services.deploy_definition(diagram("purchase", "采购申请（演示）", [ENTER, PRICE, APPROVE], ["enter", "approve"]),
                                   "purchase.bpmn", designer)
        instance = services.start_process("purchase", designer, {})
        with services.uow() as uow:
            task = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
        with pytest.raises(WorkflowFailed):
            services.complete_task(task.id, security, {})
        return instance.id
    finally:
        engine.dispose()


def test_the_incidents_page_reads_at_every_width_and_retries(browser, live_server, screenshots, tmp_path, clock,
                                                            bpmn_dir):
    _incident(tmp_path, clock, bpmn_dir)
    for width in WIDTHS:
        designer = Desk(browser, live_server, "designer", viewport={"width": width, "height": 900})
        page = designer.open("/incidents")
        card = page.locator("[data-testid^=incident-message-]")
        assert card.count() == 1 and "missing variable 'amount'" in card.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"overflows at {width}px"
        page.screenshot(path=str(screenshots / f"incidents_{width}.png"), full_page=True)
        designer.context.close()

    designer = Desk(browser, live_server, "designer", viewport={"width": 390, "height": 844})
    page = designer.open("/incidents")
    page.locator("[data-testid^=retry-]").click()
    page.wait_for_selector(".alert-danger")
    assert "重试仍未成功" in page.inner_text("main")
