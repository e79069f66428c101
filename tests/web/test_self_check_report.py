"""The unit's printable 自查报告 (seed 002: 纸质版经主要领导签字): the A4 page, the PDF, who may read it, the API."""
from __future__ import annotations

import base64
import re
import zlib

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from engine.campaigns.service import Campaigns
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask

from .api_fixtures import api, api_app  # noqa: F401
from .test_pages_campaigns import small_campaign  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401

SCRIPT = "<script>alert('x')</script>插座老化"


@pytest.fixture
def signed_report(services, world, small_campaign):  # noqa: F811
    """The college answers its two items (one a hazard whose text carries a script tag); its head signs."""
    campaign_id, items = small_campaign
    with services.uow() as uow:
        s = uow.session
        college = s.get(OrgNode, world.orgs.college)
        college.head_user_id = world.users.head
        uow.commit()
    Campaigns(services).record_item_results(world.users.staff, campaign_id, world.orgs.college, [
        {"item_id": items[0], "result": "checked", "note": "灭火器均在有效期"},
        {"item_id": items[1], "result": "hazard", "location": "机电实训楼",
         "hazard": {"problem": SCRIPT, "category": "消防", "checked_at": "2026-11-02"}}])
    for bpmn_id, user, data in (("work_checklist", world.users.staff, {}),
                                ("sign_self_check", world.users.head, {"signer_name": "刘院长", "opinion": "同意上报"})):
        with services.uow() as uow:
            task = uow.session.scalars(select(HumanTask).where(
                HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready",
                HumanTask.candidate_org_id == world.orgs.college)).one()
        services.complete_task(task.id, user, data)
    return campaign_id, items


def _content(data: bytes) -> bytes:
    """Every stream of the PDF decoded (ReportLab writes them ASCII85 over Flate)."""
    out = b""
    for raw in re.findall(rb"stream\r?\n(.*?)~>\s*endstream", data, re.S):
        out += zlib.decompress(base64.a85decode(raw, adobe=False))
    return out


def _shown(data: bytes) -> bytes:
    """The text the PDF's Tj operators show (hex or literal strings; STSong-Light's UniGB-UCS2-H: UCS-2 BE)."""
    content = _content(data)
    hexes = b"".join(bytes.fromhex(h.decode()) for h in re.findall(rb"<([0-9a-fA-F\s]+)>\s*Tj", content))
    literals = b"".join(re.sub(rb"\\([0-7]{1,3}|.)", _unescape, s)
                        for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content, re.S))
    return hexes + literals


def _unescape(match: re.Match) -> bytes:
    code = match.group(1)
    return bytes([int(code, 8)]) if code[:1].isdigit() else {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(code, code)


def test_report_page_and_pdf_show_answers_hazards_signer_and_signature_lines(login, world, signed_report):
    campaign_id, items = signed_report
    client = login("staff")
    unit_page = client.get(f"/campaigns/{campaign_id}/units/{world.orgs.college}").get_data(as_text=True)
    assert f'href="/campaigns/{campaign_id}/units/{world.orgs.college}/report" data-testid="report-link"' in unit_page

    response = client.get(f"/campaigns/{campaign_id}/units/{world.orgs.college}/report")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="report-unit">机电工程学院<' in html and "某职业学院" in html and "校园安全专项整治" in html
    answer = re.search(rf'data-testid="report-answer-{items[0]}">(.*?)</tr>', html, re.S).group(1)
    assert "消防设施设备配备管理情况" in answer and "已检查无问题" in answer and "灭火器均在有效期" in answer
    found = re.search(rf'data-testid="report-answer-{items[1]}">(.*?)</tr>', html, re.S).group(1)
    assert "发现隐患" in found and "机电实训楼" in found
    hazards = re.search(r'data-testid="report-hazards">(.*?)</table>', html, re.S).group(1)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;插座老化" in hazards and "<script>alert" not in html
    assert "待评估" in hazards and "登记评估" in hazards  # not graded yet; waiting in 登记评估
    signature = re.search(r'data-testid="report-signature">(.*?)</p>', html, re.S).group(1)
    assert "刘院长" in signature and "2026-11-02" in signature and "同意上报" in html
    lines = re.search(r'data-testid="report-sign-lines">(.*?)</div>\s*</article>', html, re.S).group(1)
    assert "负责人签字" in lines and "单位盖章" in lines and "日期" in lines
    assert 'data-testid="print"' in html and "css/notice.css" in html  # the notice's A4 print style

    # The PDF download: a valid PDF naming the unit, the typed hazard text shown literally, not read as markup.
    response = login("security").get(f"/campaigns/{campaign_id}/units/{world.orgs.college}/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    data = response.get_data()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/STSong-Light" in data  # the CID font every reader has: nothing embedded, nothing installed
    text = _shown(data)
    for expected in ("机电工程学院", "刘院长", "负责人签字", "单位盖章", "<script>alert('x')</script>插座老化"):
        assert expected.encode("utf-16-be") in text, expected


# Who may read a unit's report: the unit page's rule (its own people, the organisers above it).
READERS = {"staff": 200, "head": 200, "security": 200, "leader": 200, "supervisor": 200,
           "logistics_staff": 404, "designer": 404, "outsider": 404}


def test_the_report_follows_the_unit_pages_scope_and_an_unsigned_one_says_so(login, world, small_campaign):  # noqa: F811
    campaign_id, _items = small_campaign
    url = f"/campaigns/{campaign_id}/units/{world.orgs.college}/report"
    for name, status in READERS.items():
        client = login(name)
        assert (client.get(url).status_code, client.get(url + ".pdf").status_code) == (status, status), name
    html = login("head").get(url).get_data(as_text=True)
    assert 'data-testid="report-unsigned"' in html and 'data-testid="report-signature"' not in html
    assert "未填报" in html and "本次自查未发现隐患" in html


def test_api_returns_the_report_as_json_or_pdf_for_a_token_holder(api, world, signed_report):
    campaign_id, items = signed_report
    path = f"/campaigns/{campaign_id}/units/{world.orgs.college}/report"
    response = api.call("head", "GET", path)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["unit"], body["school"], body["head"], body["answered"], body["required"]) == (
        "机电工程学院", "某职业学院", "head", 2, 2)
    assert [(a["item_id"], a["result"]) for a in body["answers"]] == [(items[0], "checked"), (items[1], "hazard")]
    assert [h["problem"] for h in body["hazards"]] == [SCRIPT]
    assert body["signature"]["signer_name"] == "刘院长" and body["signature"]["opinion"] == "同意上报"
    pdf = api.call("supervisor", "GET", path, query_string={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.get_data().startswith(b"%PDF")
    assert api.call("outsider", "GET", path).status_code == 404
    assert api.call("logistics_staff", "GET", path, query_string={"format": "pdf"}).status_code == 404
    assert api.call(None, "GET", path).status_code == 401
    assert api.call("head", "GET", path, query_string={"format": "doc"}).status_code == 422


def test_openapi_documents_the_report_in_json_and_pdf(api):
    spec = api.call(None, "GET", "/openapi.json").get_json()
    validate(spec)
    get = spec["paths"]["/api/v1/campaigns/{campaign_id}/units/{org_id}/report"]["get"]
    assert {"application/json", "application/pdf"} <= set(get["responses"]["200"]["content"])
    assert "404" in get["responses"]
