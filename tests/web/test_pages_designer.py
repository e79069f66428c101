"""流程设计 (the designers' section): who may reach it, every process with its protection and running instances,
each version's running instances, deployer and files, the diff page and each version's diagram as JSON."""
from __future__ import annotations

import json
import re

from sqlalchemy import event

from engine.process import version_views
from engine.process.bundles import Bundle
from tests.web.test_pages_deploy import FLAT_DIAGRAM, FLAT_FORM, FORM_BYTES

from .ui_fixtures import app, login  # noqa: F401

RENAMED = FLAT_DIAGRAM.replace("审批采购".encode(), "复核采购".encode())


def _deploy(services, diagram: bytes, user_id=None) -> None:
    bundle = Bundle()
    bundle.add("purchase_form.bpmn", diagram)
    bundle.add(FLAT_FORM, FORM_BYTES)
    services.deploy_bundle(bundle, user_id, replace=user_id is None)


def _two_versions(services, world) -> None:
    """purchase_form v1 by the designer with two running instances, v2 (renamed task) by the operator with one."""
    _deploy(services, FLAT_DIAGRAM, world.users.designer)
    for item in ("纸", "笔"):
        services.start_process("purchase_form", world.users.designer, {"item": item, "amount": 1})
    _deploy(services, RENAMED)
    services.start_process("purchase_form", world.users.designer, {"item": "墨", "amount": 2})


def test_only_process_designers_and_administrators_reach_the_designer_pages(services, world, login):
    _two_versions(services, world)
    for path in ("/designer", "/designer/purchase_form", "/designer/purchase_form/diff",
                 "/designer/purchase_form/versions/1.json", "/deploy/purchase_form"):
        assert login("staff").get(path).status_code == 403, path
        assert login("security").get(path).status_code == 403, path
    assert 'data-testid="nav-designer"' not in login("staff").get("/inbox").get_data(as_text=True)
    designer = login("designer")
    assert 'data-testid="nav-designer"' in designer.get("/inbox").get_data(as_text=True)
    for path in ("/designer/no_such_process", "/designer/no_such_process/diff",
                 "/designer/purchase_form/versions/9.json", "/designer/purchase_form/diff?from=1&to=9"):
        assert designer.get(path).status_code == 404, path
    moved = designer.get("/deploy/purchase_form")  # the old versions page's links land in 流程设计
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/designer/purchase_form")


def test_the_overview_lists_every_process_with_protection_and_running_instances(services, world, login):
    _two_versions(services, world)
    html = login("designer").get("/designer").get_data(as_text=True)
    row = re.search(r'data-testid="designer-process-purchase_form">(.*?)</tr>', html, re.S).group(1)
    assert ">v2<" in row and "共 2 个版本" in row and 'data-testid="running">3<' in row and "受保护" not in row
    shipped = re.search(r'data-testid="designer-process-hazard_rectification">(.*?)</tr>', html, re.S).group(1)
    assert "受保护" in shipped and "rectification" in shipped  # a subject's contract protects it


def test_each_version_shows_its_running_instances_its_deployer_and_its_files(services, world, login):
    _two_versions(services, world)
    designer = login("designer")
    html = designer.get("/designer/purchase_form").get_data(as_text=True)
    assert 'data-testid="running-1">运行中实例：2<' in html and 'data-testid="running-2">运行中实例：1<' in html
    v1 = re.search(r'data-testid="deployed-1">([^<]+)<', html).group(1)
    v2 = re.search(r'data-testid="deployed-2">([^<]+)<', html).group(1)
    assert v1.strip().endswith("designer") and v2.strip().endswith("系统")
    assert "未受保护" in html and 'data-testid="diff-form"' in html
    links = re.findall(r'href="(/api/v1/definitions/\d+/files/[^"]+)" download', html)
    assert len(links) == 4  # two files of each version
    downloads = {link: designer.get(link) for link in links}
    assert {r.status_code for r in downloads.values()} == {200}
    diagrams = [r.data for link, r in downloads.items() if link.endswith(".bpmn")]
    assert sorted(diagrams) == sorted([FLAT_DIAGRAM, RENAMED])


def test_running_instances_per_version_are_one_grouped_count(services, world):
    _two_versions(services, world)
    with services.uow() as uow:
        statements = []
        engine = uow.session.get_bind()
        listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            rows = version_views.version_rows(uow.session, "purchase_form")
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    assert [(r.definition.version, r.running) for r in rows] == [(2, 1), (1, 2)]
    assert sum("count(" in s.lower() for s in statements) == 1


def test_the_diff_page_compares_two_versions_and_each_diagram_is_served_as_json(services, world, login):
    _two_versions(services, world)
    designer = login("designer")
    html = designer.get("/designer/purchase_form/diff").get_data(as_text=True)  # by default: v1 → v2
    assert 'data-old="/designer/purchase_form/versions/1.json"' in html
    assert 'data-new="/designer/purchase_form/versions/2.json"' in html
    assert "/static/vendor/bpmn-js-differ/bpmn-js-differ.min.js" in html
    backwards = designer.get("/designer/purchase_form/diff?from=2&to=1")
    assert backwards.status_code == 303 and backwards.headers["Location"].endswith("?from=1&to=2")
    payload = designer.get("/designer/purchase_form/versions/2.json")
    assert payload.mimetype == "application/json"
    assert payload.get_json()["version"] == 2 and "复核采购" in payload.get_json()["xml"]


def test_the_designer_pages_read_in_english_with_the_role_labels_in_english(services, world, login):
    _two_versions(services, world)
    designer = login("designer")
    assert designer.post("/language", data={"lang": "en"}).status_code == 303
    overview = designer.get("/designer").get_data(as_text=True)
    assert "Process design" in overview and "Running instances" in overview and "Protected" in overview
    diff = designer.get("/designer/purchase_form/diff").get_data(as_text=True)
    assert "Version diff" in diff and "Zoom in" in diff and "Fit to window" in diff
    labels = json.loads(re.search(r"data-role-labels='([^']+)'", diff).group(1))
    assert labels["security_office"] == "Security office"
