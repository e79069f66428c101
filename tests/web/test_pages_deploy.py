"""流程部署 (the designer's deployment page): check a bundle without deploying, deploy several files or a zip,
the role map's errors, replace, who may use the page, CSRF, escaping of what diagrams supply."""
from __future__ import annotations

import html as htmllib
import io
import json
import re

from sqlalchemy import select

from engine.infra.config import Settings
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process import deployments
from engine.process.models import ProcessDefinition
from engine.rectification.attachments import EvidenceStore
from tests.web.catalogue_helpers import DIAGRAM, FORM_REF, START_FORM
from tests.zips import zip_of
from web.app import create_app

from .ui_fixtures import app, login  # noqa: F401

# Picked one by one, files keep only their base name: this copy names its form without the folder.
FLAT_FORM = "purchase_start.json"
FLAT_DIAGRAM = DIAGRAM.replace(FORM_REF, FLAT_FORM).encode("utf-8")
FORM_BYTES = json.dumps(START_FORM, ensure_ascii=False).encode("utf-8")

# A gateway whose outgoing flows have no conditions and no default: lint refuses it, naming the gateway's line.
BROKEN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_broken"
    targetNamespace="http://example.org/broken">
  <bpmn:process id="broken_choice" name="坏的分支" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:exclusiveGateway id="choose" name="选哪条" />
    <bpmn:endEvent id="end_a" />
    <bpmn:endEvent id="end_b" />
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="choose" />
    <bpmn:sequenceFlow id="fa" sourceRef="choose" targetRef="end_a" />
    <bpmn:sequenceFlow id="fb" sourceRef="choose" targetRef="end_b" />
  </bpmn:process>
</bpmn:definitions>
"""
GATEWAY_LINE = next(i for i, text in enumerate(BROKEN.splitlines(), 1) if 'id="choose"' in text)


def _post(client, files: dict[str, bytes], action: str = "deploy", **form):
    data = {"file": [(io.BytesIO(content), name) for name, content in files.items()], "action": action, **form}
    return client.post("/deploy", data=data, content_type="multipart/form-data")



def _findings(html: str) -> list[str]:
    return re.findall(r'<tr class="finding finding-(\w+)" data-testid="finding" data-code="([^"]+)"', html)


def _versions(services, key: str) -> list[int]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(ProcessDefinition.version).where(ProcessDefinition.key == key)
                                        .order_by(ProcessDefinition.version)))


def _only(s, key: str) -> ProcessDefinition:
    return s.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)).one()


def _as_typed(text: str) -> str:
    """`text` as Jinja's autoescape writes it into the textarea."""
    return htmllib.escape(text, quote=True).replace("&quot;", "&#34;").replace("&#x27;", "&#39;")


def test_a_designer_checks_a_broken_diagram_and_sees_the_finding_with_its_line(services, world, login):
    designer = login("designer")
    page = designer.get("/deploy")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="nav-deploy"' in html and 'enctype="multipart/form-data"' in html
    assert "每个文件不超过 2 MB，最多 200 个文件，合计不超过 20 MB" in html  # the limits are engine.process.bundles'

    checked = _post(designer, {"broken.bpmn": BROKEN.encode()}, action="validate")
    assert checked.status_code == 200
    html = checked.get_data(as_text=True)
    assert "检查未通过" in html and "仅检查，未部署任何内容" in html
    row = re.search(r'<tr class="finding finding-error"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "broken.bpmn" in row and "<code>choose</code>" in row and "选哪条" in row
    assert f'data-testid="finding-line">{GATEWAY_LINE}<' in row
    assert "condition" in row.lower()  # the message, and a fix in its own cell
    assert _versions(services, "broken_choice") == []

    refused = _post(designer, {"broken.bpmn": BROKEN.encode()}, role_map='{"*": "security_office"}', replace="1")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "部署被拒绝" in html and f'data-testid="finding-line">{GATEWAY_LINE}<' in html
    # The form's other inputs stay as they were; the files must be chosen again (browsers do not keep them).
    assert '>{&#34;*&#34;: &#34;security_office&#34;}</textarea>' in html
    assert re.search(r'data-testid="deploy-replace"', html) and 'value="1" checked' in html
    assert 'data-testid="choose-again"' in html
    assert _versions(services, "broken_choice") == []


def test_a_bpmn_and_its_json_form_deploy_together_and_the_new_version_is_listed(services, world, login):
    designer = login("designer")
    checked = _post(designer, {"purchase_form.bpmn": FLAT_DIAGRAM, FLAT_FORM: FORM_BYTES}, action="validate")
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "检查通过" in html and 'data-testid="checked-process"' in html
    assert _versions(services, "purchase_form") == []

    deployed = _post(designer, {"purchase_form.bpmn": FLAT_DIAGRAM, FLAT_FORM: FORM_BYTES})
    assert deployed.status_code == 200, deployed.get_data(as_text=True)[:2000]
    html = deployed.get_data(as_text=True)
    result = re.search(r'data-testid="deploy-result">(.*?)</section>', html, re.S).group(1)
    assert 'data-testid="deployed-purchase_form"' in result and ">v1<" in result and "新版本" in result
    assert "first version: 1 user task(s)" in result  # the change summary
    assert _versions(services, "purchase_form") == [1]
    with services.uow() as uow:
        definition = _only(uow.session, "purchase_form")
        assert definition.forms[FLAT_FORM] == START_FORM
        files = [f["name"] for f in deployments.file_list(uow.session, definition.id)]
    assert files == ["purchase_form.bpmn", FLAT_FORM]

    # The list: latest version, who, the files as downloads, the instances list and the versions page.
    listing = designer.get("/deploy").get_data(as_text=True)
    item = re.search(r'data-testid="process-purchase_form">(.*?)(?=<div class="list-group-item"|$)',
                     listing, re.S).group(1)
    assert "v1" in item and "designer" in item
    download = f"/api/v1/definitions/{definition.id}/files/{FLAT_FORM}"
    assert download in item and "/processes/purchase_form/instances" in item
    got = designer.get(download)
    assert got.status_code == 200 and json.loads(got.data) == START_FORM

    # A second version: the first stays reachable with its own files from the versions page.
    changed = FLAT_DIAGRAM.replace(b'name="\xe5\xae\xa1\xe6\x89\xb9\xe9\x87\x87\xe8\xb4\xad"', 'name="复核采购"'.encode())
    again = _post(designer, {"purchase_form.bpmn": changed, FLAT_FORM: FORM_BYTES}).get_data(as_text=True)
    assert ">v2<" in again and "renamed: approve 审批采购 → 复核采购" in again
    versions = designer.get("/designer/purchase_form").get_data(as_text=True)
    assert 'data-testid="version-2"' in versions and 'data-testid="version-1"' in versions
    assert f"/api/v1/definitions/{definition.id}/files/purchase_form.bpmn" in versions
    assert f"/processes/purchase_form/instances?definition={definition.id}" in versions

    # A finding that does not refuse is shown with what was deployed.
    odd = changed.replace(b'<bpmn:userTask id="approve"', b'<bpmn:userTask colour="red" id="approve"')
    html = _post(designer, {"purchase_form.bpmn": odd, FLAT_FORM: FORM_BYTES}).get_data(as_text=True)
    warnings = re.search(r'data-testid="warnings">(.*?)</table>', html, re.S).group(1)
    assert _findings(html) == [("warning", "xsd")] and "colour" in warnings and "<code>approve</code>" in warnings
    assert ">v3<" in html and "1 other element(s) added, removed or changed" in html
    assert designer.get("/designer/no_such_process").status_code == 404


def test_a_zip_deploys_and_the_same_zip_again_keeps_the_version(services, world, login):
    designer = login("designer")
    archive = zip_of({"purchase/purchase_form.bpmn": DIAGRAM.encode(), f"purchase/{FORM_REF}": FORM_BYTES})
    first = _post(designer, {"purchase.zip": archive})
    assert first.status_code == 200
    assert 'data-testid="deployed-purchase_form"' in first.get_data(as_text=True)
    with services.uow() as uow:
        definition = _only(uow.session, "purchase_form")
        assert [f["name"] for f in deployments.file_list(uow.session, definition.id)] == [
            "purchase_form.bpmn", FORM_REF]
    again = _post(designer, {"purchase.zip": archive}).get_data(as_text=True)
    assert "内容未变，保持原版本" in again and _versions(services, "purchase_form") == [1]

    # A zip together with loose files, and an unreadable zip, are refused with the bundle's own finding.
    mixed = _post(designer, {"purchase.zip": archive, FLAT_FORM: FORM_BYTES})
    assert mixed.status_code == 422 and ("bundle-mixed-upload",) == tuple(c for _, c in _findings(
        mixed.get_data(as_text=True)))
    broken = _post(designer, {"bad.zip": b"PK\x03\x04 not really"}, action="validate")
    assert broken.status_code == 422 and [c for _, c in _findings(broken.get_data(as_text=True))] == ["bundle-bad-zip"]
    nothing = designer.post("/deploy", data={"action": "deploy", "file": (io.BytesIO(b""), "")},
                            content_type="multipart/form-data")
    assert nothing.status_code == 422 and "no file was uploaded" in nothing.get_data(as_text=True)


def test_a_bad_role_map_is_a_clear_error_at_its_field(services, world, login):
    designer = login("designer")
    files = {"purchase_form.bpmn": FLAT_DIAGRAM, FLAT_FORM: FORM_BYTES}
    cases = [("{lane: 1", "角色映射不是有效的 JSON"), ('["security_office"]', "角色映射必须是 JSON 对象"),
             ('{"Reviewers": "boss"}', "角色映射有误")]
    for text, expected in cases:
        for action in ("validate", "deploy"):
            got = _post(designer, files, action=action, role_map=text)
            assert got.status_code == 422, (text, action)
            html = got.get_data(as_text=True)
            error = re.search(r'data-testid="error-role_map">([^<]+)<', html).group(1)
            assert expected in htmllib.unescape(error)
            assert f">{_as_typed(text)}</textarea>" in html
    named = _post(designer, files, role_map='{"Reviewers": "boss"}').get_data(as_text=True)
    assert "&#39;Reviewers&#39;" in named and "security_office" in named  # what is wrong, and the roles to use
    assert _versions(services, "purchase_form") == []
    ok = _post(designer, files, role_map='{"*": "security_office"}')
    assert ok.status_code == 200 and _versions(services, "purchase_form") == [1]


def test_replacing_a_live_process_needs_replace_by_an_administrator(services, world, login):
    designer = login("designer")
    files = {"purchase_form.bpmn": FLAT_DIAGRAM, FLAT_FORM: FORM_BYTES}
    assert _post(designer, files).status_code == 200
    services.start_process("purchase_form", world.users.designer, {"item": "纸", "amount": 1})
    changed = FLAT_DIAGRAM.replace("审批采购".encode(), "复核采购".encode())
    html = _post(designer, {**files, "purchase_form.bpmn": changed}).get_data(as_text=True)
    assert [c for _, c in _findings(html)] == ["replace-required"] and "您不是管理员，不能替换" in html
    html = _post(designer, {**files, "purchase_form.bpmn": changed}, replace="1").get_data(as_text=True)
    assert [c for _, c in _findings(html)] == ["replace-admin-only"]
    with services.uow() as uow:
        school = uow.session.get(OrgNode, world.orgs.school)
        accounts.add_user(uow.session, "admin1", "管理员", "pw-admin1", school, services.clock.now(),
                          roles=[("admin", school)])
        uow.commit()
    replaced = _post(login("admin1"), {**files, "purchase_form.bpmn": changed}, replace="1")
    assert replaced.status_code == 200 and ">v2<" in replaced.get_data(as_text=True)
    assert "已替换" in login("admin1").get("/deploy").get_data(as_text=True)


def test_only_process_designers_and_administrators_reach_the_page(services, world, login):
    staff = login("staff")
    assert staff.get("/deploy").status_code == 403
    assert _post(staff, {"purchase_form.bpmn": FLAT_DIAGRAM}, action="validate").status_code == 403
    assert _post(staff, {"purchase_form.bpmn": FLAT_DIAGRAM}).status_code == 403
    assert staff.get("/deploy/hazard_rectification").status_code == 403
    assert 'data-testid="nav-deploy"' not in staff.get("/inbox").get_data(as_text=True)
    assert login("security").get("/deploy").status_code == 403
    assert _versions(services, "purchase_form") == []


def test_the_form_needs_its_csrf_token(services, world, tmp_path):
    services.evidence_store = EvidenceStore(tmp_path)
    app = create_app(Settings(secret_key="test-secret"), services=services, config={"TESTING": True})
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": "designer", "password": "pw-designer",
                                       "csrf_token": token}).status_code == 302
    form = client.get("/deploy").get_data(as_text=True)
    token = re.search(r'<form method="post" action="/deploy"[^>]*>\s*<input type="hidden" name="csrf_token" '
                      r'value="([^"]+)"', form).group(1)
    assert _post(client, {"purchase_form.bpmn": FLAT_DIAGRAM, FLAT_FORM: FORM_BYTES}).status_code == 400
    assert _versions(services, "purchase_form") == []
    ok = _post(client, {"purchase_form.bpmn": FLAT_DIAGRAM, FLAT_FORM: FORM_BYTES}, csrf_token=token)
    assert ok.status_code == 200 and _versions(services, "purchase_form") == [1]


def test_markup_a_diagram_supplies_is_shown_escaped(services, world, login):
    hostile = '<img src=x onerror="alert(1)">'
    escaped_attr = htmllib.escape(hostile, quote=True)
    source = (FLAT_DIAGRAM.decode().replace('name="采购申请（表单）"', f'name="{escaped_attr}"')
              .replace('name="审批采购"', f'name="{escaped_attr}"').encode())
    broken = BROKEN.replace('name="选哪条"', f'name="{escaped_attr}"').replace(
        'name="坏的分支"', f'name="{escaped_attr}"').encode()
    designer = login("designer")
    for response in (_post(designer, {"x.bpmn": broken}, action="validate"),
                     _post(designer, {"x.bpmn": broken}),
                     _post(designer, {"purchase_form.bpmn": source, FLAT_FORM: FORM_BYTES}, action="validate"),
                     _post(designer, {"purchase_form.bpmn": source, FLAT_FORM: FORM_BYTES}),
                     designer.get("/deploy"), designer.get("/designer/purchase_form"),
                     designer.get("/designer"), designer.get("/designer/purchase_form/diff")):
        html = response.get_data(as_text=True)
        assert "<img" not in html and "onerror=\"alert" not in html
    listing = designer.get("/deploy").get_data(as_text=True)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in listing
    assert "&lt;img" in _post(designer, {"x.bpmn": broken}, action="validate").get_data(as_text=True)
