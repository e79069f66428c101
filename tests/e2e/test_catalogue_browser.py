"""发起流程 in a real browser: a designer starts a process nobody shipped from the catalogue, fills its start form
(a mistake first), and lands on the instance page, whose diagram marks the current step, at 390, 820 and 1366 px."""
from __future__ import annotations

import re
import threading

import pytest
from werkzeug.serving import make_server

from engine.assembly import assemble
from engine.demo import build_demo
from engine.infra.config import Settings
from engine.infra.db import make_engine, make_session_factory
from engine.infra.schema import upgrade
from engine.rectification.attachments import EvidenceStore
from tests.web.catalogue_helpers import bpmn_dir_with_form, deploy_purchase

from .test_closed_loop_browser import Desk

pytestmark = pytest.mark.slow
WIDTHS = (390, 820, 1366)


@pytest.fixture
def catalogue_server(tmp_path, clock):
    """The demo school with the purchase process deployed, served on a free port."""
    from web.app import create_app

    url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    services = assemble(make_session_factory(engine), clock, bpmn_dir_with_form(tmp_path))
    services.deploy_directory()
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    build_demo(services)
    deploy_purchase(services)
    app = create_app(Settings(database_url=url, secret_key="e2e-secret"), services=services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    engine.dispose()


def test_a_designer_starts_a_process_from_the_catalogue_and_sees_its_instance(browser, catalogue_server,
                                                                              screenshots):
    designer = Desk(browser, catalogue_server, "designer", viewport={"width": 390, "height": 844})
    page = designer.page
    page.click(".navbar-toggler")  # on a phone the navigation is folded away
    page.wait_for_selector(".navbar-collapse.show")  # opened (Bootstrap animates it) before its menu is used
    page.click("[data-testid=nav-more]")  # the less frequent pages sit under 更多
    page.wait_for_selector("[data-testid=nav-more] + .dropdown-menu.show")
    page.click("[data-testid=nav-processes]")
    page.wait_for_url(re.compile(r".*/processes$"))
    page.click("[data-testid=start-purchase_form]")
    page.wait_for_selector("[data-testid=start-form]")

    # A mistake first: the amount is missing; the page says so at the field and keeps what was typed.
    page.fill("#f-item", "A4 打印纸")
    page.fill("#f-business_key", "PO-2026-001")
    page.evaluate("document.querySelector('[data-testid=start-form]').noValidate = true")
    page.click("[data-testid=start-submit]")
    page.wait_for_selector("[data-testid=error-amount]")
    assert page.input_value("#f-item") == "A4 打印纸"
    assert page.input_value("#f-business_key") == "PO-2026-001"

    page.fill("#f-amount", "12")
    page.click("[data-testid=start-submit]")
    page.wait_for_url(re.compile(r".*/instances/\d+$"))
    assert "流程已发起" in page.inner_text(".alert-success")
    instance_path = re.search(r"/instances/\d+$", page.url).group(0)

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(catalogue_server + instance_path)
        page.wait_for_selector("[data-testid=bpmn-canvas][data-rendered]", timeout=15000)
        assert page.get_attribute("[data-testid=bpmn-canvas]", "data-rendered") == "approve"
        assert page.locator("[data-testid=bpmn-canvas] .djs-element.highlight").count() >= 1
        assert page.locator("[data-testid=bpmn-canvas] .djs-element.done").count() >= 1
        assert page.inner_text("[data-testid=instance-status]") == "进行中"
        assert page.locator("[data-testid=open-task-approve]").is_visible()
        assert "PO-2026-001" in page.inner_text("main")
        assert "total" in page.inner_text("[data-testid=variables]")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the instance page scrolls sideways at {width}px"
        page.screenshot(path=str(screenshots / f"instance_{width}.png"), full_page=True)
    designer.context.close()
