"""The 整改通知书 pages: the printable notice, scope, the hazard page's link and issue button, the list by year."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from .ui_fixtures import app, login  # noqa: F401

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-20", "onsite_fix": False}


def _register(do, world, hazard_id, **overrides):
    data = {**REGISTER, "responsible_unit_id": world.orgs.college, **overrides}
    return do(hazard_id, "register_hazard", world.users.security, data)


def test_the_notice_page_prints_the_number_unit_deadline_and_receipt_stub(app, login, world, report_hazard, do):
    hazard = report_hazard()
    _register(do, world, hazard.id, grade="major")
    response = login("security").get(f"/hazards/{hazard.id}/notice")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "隐患整改通知书" in html and "某职业学院〔2026〕整改第 001 号" in html
    assert "机电工程学院" in html and "车床防护罩缺失" in html and "重大隐患" in html
    assert "2026年11月20日前" in html and "2026年11月2日" in html
    assert "保卫处（盖章）" in html and "签收人（签字）" in html
    assert 'data-print' in html and "js/print.js" in html and "css/notice.css" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline scripts are blocked by the CSP"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "private, no-store"
    # The receiving unit's head may open (and print) it too.
    assert login("head").get(f"/hazards/{hazard.id}/notice").status_code == 200


def test_the_notice_page_is_404_out_of_scope_and_for_a_hazard_without_notice(app, login, world, report_hazard, do):
    hazard = report_hazard()
    _register(do, world, hazard.id)
    for other in ("outsider", "logistics_staff"):  # another school; another unit of the same school
        assert login(other).get(f"/hazards/{hazard.id}/notice").status_code == 404
    fixed_on_site = report_hazard(location="食堂")
    _register(do, world, fixed_on_site.id, onsite_fix=True)
    assert login("security").get(f"/hazards/{fixed_on_site.id}/notice").status_code == 404
    assert login("security").get("/hazards/999999/notice").status_code == 404


def test_the_hazard_page_links_to_its_notice(app, login, world, report_hazard, do):
    hazard = report_hazard()
    _register(do, world, hazard.id)
    html = login("staff").get(f"/hazards/{hazard.id}").get_data(as_text=True)
    assert 'data-testid="notice-link"' in html and f"/hazards/{hazard.id}/notice" in html
    assert "某职业学院〔2026〕整改第 001 号" in html
    assert "下达整改通知书" in html  # the NoticeIssued event in the audit trail


def test_the_security_office_issues_a_notice_from_the_hazard_page(app, login, world, report_hazard, do):
    hazard = report_hazard()
    _register(do, world, hazard.id, onsite_fix=True)
    staff_page = login("staff").get(f"/hazards/{hazard.id}").get_data(as_text=True)
    assert 'data-testid="notice-issue"' not in staff_page and 'data-testid="notice-link"' not in staff_page
    security = login("security")
    assert 'data-testid="notice-issue"' in security.get(f"/hazards/{hazard.id}").get_data(as_text=True)
    refused = login("staff").post(f"/hazards/{hazard.id}/notice", data={})
    assert refused.status_code == 303 and refused.location.endswith(f"/hazards/{hazard.id}")
    issued = security.post(f"/hazards/{hazard.id}/notice", data={"requirements": "立即停用车床"})
    assert issued.status_code == 303 and issued.location.endswith(f"/hazards/{hazard.id}/notice")
    page = security.get(issued.location).get_data(as_text=True)
    assert "立即停用车床" in page and "已下达整改通知书" in page
    again = security.post(f"/hazards/{hazard.id}/notice", data={}, follow_redirects=True)
    assert "该隐患已下达过整改通知书" in again.get_data(as_text=True)
    assert 'data-testid="notice-issue"' not in security.get(f"/hazards/{hazard.id}").get_data(as_text=True)


def test_the_list_shows_notices_in_scope_by_year(app, login, world, report_hazard, do, clock):
    first = report_hazard()
    _register(do, world, first.id)
    clock.set(datetime(2027, 1, 4, 1, 0, tzinfo=timezone.utc))
    second = report_hazard(location="图书馆")
    _register(do, world, second.id, deadline="2027-01-20")
    security = login("security")
    html = security.get("/notices").get_data(as_text=True)
    assert "某职业学院〔2026〕整改第 001 号" in html and "某职业学院〔2027〕整改第 001 号" in html
    assert 'data-testid="nav-notices"' in html
    only_2026 = security.get("/notices?year=2026").get_data(as_text=True)
    assert "〔2026〕" in only_2026 and "〔2027〕整改" not in only_2026
    assert "暂无整改通知书" in login("outsider").get("/notices").get_data(as_text=True)
    assert 'data-testid="nav-notices"' not in login("staff").get("/inbox").get_data(as_text=True)


def test_the_list_is_paginated(app, login, world, report_hazard, do, monkeypatch):
    from web.pages import notices as notices_view

    monkeypatch.setattr(notices_view, "PER_PAGE", 2)
    for n in range(3):
        hazard = report_hazard(location=f"实训楼{n}")
        _register(do, world, hazard.id)
    security = login("security")
    first = security.get("/notices?year=2026").get_data(as_text=True)
    assert "第 003 号" in first and "第 002 号" in first and "第 001 号" not in first and "1 / 2" in first
    assert "page=2" in first and "year=2026" in first
    second = security.get("/notices?year=2026&page=2").get_data(as_text=True)
    assert "第 001 号" in second and "第 003 号" not in second
