"""The statistics table on the pages, in the REST API, as Excel and on the command line, each within its scope."""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns
from engine.infra.timezone import CHINA
from engine.rectification.hazards import report_hazard as report_hazard_verb
from engine.reports import snapshots as statistics_reports
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401

ROLES = ("staff", "head", "logistics_staff", "security", "leader", "supervisor", "designer", "outsider")
REG = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}
CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施设备配备管理情况,现场查看,各二级学院\n".encode()
STAGES = {"self_check": {"end": "2026-11-15"}, "joint_inspection": {"end": "2026-11-20"},
          "rectification": {"end": "2026-12-15"}, "supervision": {"end": "2026-12-30"},
          "report_dates": ["2026-11-03"]}


@pytest.fixture
def figures_world(services, world, report_hazard, do, clock):
    """机电: a general 实训实验室 hazard closed on site and a major 消防 one open; 后勤: an ungraded 消防 one;
    the other school: one hazard. A campaign holds the major one, and its 11-03 table is stored."""
    u, o = world.users, world.orgs
    closed = report_hazard()
    do(closed.id, "register_hazard", u.security, {**REG, "responsible_unit_id": o.college, "onsite_fix": True})
    do(closed.id, "onsite_fix", u.staff, {"measures": "已加装", "completion": "完成"})
    do(closed.id, "accept_rectification", u.security, {"accepted": True})
    do(closed.id, "close_hazard", u.security2, {"closing_note": "销号"})
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "清单", clock.now())
        uow.commit()
    campaign = Campaigns(services).create_campaign(u.security, "冬季专项整治", template.id, [o.college], STAGES)
    major = report_hazard_verb(services, u.staff, {"location": "配电房", "problem": "配电箱无门", "category": "消防",
                                             "source": "joint_inspection"}, campaign_id=campaign.id)
    do(major.id, "register_hazard", u.security, {**REG, "grade": "major", "responsible_unit_id": o.college})
    report_hazard(u.logistics_staff, category="消防", problem="疏散通道堵塞")
    report_hazard(u.outsider, category="交通")
    clock.set(datetime(2026, 11, 4, 9, tzinfo=CHINA).astimezone(timezone.utc))
    statistics_reports.generate_due_reports(services)
    with services.uow() as uow:
        _, [snapshot] = statistics_reports.list_reports(uow.session, _user(uow.session, u.security), campaign.id)
    return {"campaign": campaign.id, "report": snapshot.id}


def _user(s, user_id):
    from engine.org import accounts

    return accounts.get_user(s, user_id)


def _row(sheet, column_b: str, after: str):
    """The values of the first row below the section titled `after` whose column B reads `column_b`."""
    seen = False
    for row in sheet.iter_rows(values_only=True):
        if row[0] == after:
            seen = True
        elif seen and row[1] == column_b:
            return list(row)
    raise AssertionError(f"no row {column_b!r} under {after!r}")


def test_page_shows_the_scope_a_role_may_read(login, world, figures_world):
    got = {}
    for role in ROLES:
        got[role] = login(role).get("/statistics").status_code
    assert got == dict(staff=403, head=200, logistics_staff=403, security=200, leader=200, supervisor=200,
                       designer=403, outsider=403)
    head = login("head")
    assert head.get(f"/statistics?org={world.orgs.school}").status_code == 404, "a unit head sees only the unit"
    page = head.get("/statistics").get_data(as_text=True)
    assert 'data-testid="total-total">2<' in page and "后勤管理处" not in page
    assert login("security").get(f"/statistics?org={world.orgs.other_school}").status_code == 404
    bureau = login("supervisor").get(f"/statistics?org={world.orgs.bureau}").get_data(as_text=True)
    assert 'data-testid="total-total">4<' in bureau and 'data-testid="stats-school"' in bureau
    assert login("supervisor").get(f"/statistics?org={world.orgs.other_school}").status_code == 200


def test_page_tables_filters_and_the_nav_link(login, world, figures_world):
    client = login("security")
    page = client.get(f"/statistics?org={world.orgs.school}").get_data(as_text=True)
    assert 'data-testid="nav-statistics"' in page
    assert 'data-testid="total-total">3<' in page and 'data-testid="total-closed">1<' in page
    assert 'data-testid="stats-category"' in page and 'data-testid="stats-unit"' in page
    assert "重大隐患" in page and "未定级" in page and "联检联查" in page
    past = client.get(f"/statistics?org={world.orgs.school}&as_of=2026-11-01").get_data(as_text=True)
    assert 'data-testid="total-total">0<' in past
    bad = client.get(f"/statistics?org={world.orgs.school}&start=2026-11-20&end=2026-11-02")
    assert bad.status_code == 422 and 'data-testid="stats-error"' in bad.get_data(as_text=True)
    assert client.get("/statistics?as_of=soon").status_code == 400
    assert 'data-testid="nav-statistics"' not in login("staff").get("/").get_data(as_text=True)


def test_campaign_snapshots_are_listed_and_viewable_in_scope(login, world, figures_world):
    client = login("security")
    page = client.get(f"/statistics?campaign={figures_world['campaign']}").get_data(as_text=True)
    assert 'data-testid="stats-reports"' in page and "2026-11-03" in page
    assert 'data-testid="total-total">1<' in page, "the campaign's hazards only"
    report = client.get(f"/statistics/reports/{figures_world['report']}")
    assert report.status_code == 200 and "冬季专项整治" in report.get_data(as_text=True)
    assert report.headers["Cache-Control"] == "private, no-store"
    for role in ("head", "staff", "outsider"):
        assert login(role).get(f"/statistics/reports/{figures_world['report']}").status_code == 404
        assert login(role).get(f"/statistics/reports/{figures_world['report']}.xlsx").status_code == 404
    assert login("supervisor").get(f"/statistics/reports/{figures_world['report']}").status_code == 200
    head = login("head").get(f"/statistics?campaign={figures_world['campaign']}")
    assert head.status_code == 200 and 'data-testid="stats-reports"' not in head.get_data(as_text=True)


def test_excel_download_holds_the_official_layout_and_the_numbers(login, world, figures_world):
    response = login("security").get(f"/statistics.xlsx?org={world.orgs.school}")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet["A1"].value == "某职业学院校园安全专项整治工作隐患问题统计表"
    assert "填报单位：某职业学院" in sheet["A2"].value and "统计截至：2026-11-04 09:00" in sheet["A2"].value
    headers = next(r for r in sheet.iter_rows(values_only=True) if r[1] == "隐患类别")
    assert list(headers[:7]) == ["序号", "隐患类别", "合计", "一般隐患", "重大隐患", "未定级", "已销号"]
    assert _row(sheet, "消防", "二、按隐患类别和等级")[2:10] == [2, 0, 1, 1, 0, 2, 2, 2]
    assert _row(sheet, "实训实验室", "二、按隐患类别和等级")[2:7] == [1, 1, 0, 0, 1]
    assert _row(sheet, "机电工程学院", "三、按责任单位")[2:8] == [2, 1, 1, 0, 1, 1]
    assert _row(sheet, "已销号", "四、按整改状态")[2] == 1
    assert _row(sheet, "联检联查", "五、按发现途径")[2] == 1
    total = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "合计")
    assert total[2] == 3
    assert sheet.column_dimensions["B"].width == 24
    assert any(str(v).startswith("填报人：") for r in sheet.iter_rows(values_only=True) for v in r if v)


def test_stored_snapshot_exports_as_it_was(login, figures_world):
    sheet = load_workbook(io.BytesIO(login("security").get(
        f"/statistics/reports/{figures_world['report']}.xlsx").data)).active
    assert "专项整治：冬季专项整治" in [r[0] for r in sheet.iter_rows(values_only=True)]
    assert _row(sheet, "消防", "二、按隐患类别和等级")[2:5] == [1, 0, 1]


def test_api_figures_per_role(api, world, figures_world):
    got = {role: api.call(role, "GET", "/statistics").status_code for role in ROLES}
    assert got == dict(staff=403, head=200, logistics_staff=403, security=200, leader=200, supervisor=200,
                       designer=403, outsider=403)
    body = api.call("security", "GET", f"/statistics?org_id={world.orgs.school}").get_json()
    assert (body["totals"]["total"], body["totals"]["open"], body["totals"]["closed"]) == (3, 2, 1)
    assert {r["key"]: r["total"] for r in body["by_grade"]} == {"general": 1, "major": 1, "": 1}
    assert api.call("head", "GET", f"/statistics?org_id={world.orgs.school}").status_code == 404
    assert api.call("security", "GET", f"/statistics?org_id={world.orgs.other_school}").status_code == 404
    assert api.call("supervisor", "GET", f"/statistics?org_id={world.orgs.bureau}").get_json()["totals"]["total"] == 4
    bad = api.call("security", "GET", "/statistics?start=2026-11-20&end=2026-11-02")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "start"


def test_api_excel_and_snapshots(api, world, figures_world):
    college = world.orgs.college
    for path in (f"/statistics.xlsx?org_id={college}", f"/statistics?org_id={college}&format=xlsx"):
        response = api.call("head", "GET", path)
        assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
        assert load_workbook(io.BytesIO(response.data)).active["A1"].value.startswith("某职业学院")
    campaign, report = figures_world["campaign"], figures_world["report"]
    listed = api.call("security", "GET", f"/statistics/campaigns/{campaign}/reports")
    assert [(r["report_date"], r["totals"]["total"]) for r in listed.get_json()] == [("2026-11-03", 1)]
    detail = api.call("supervisor", "GET", f"/statistics/reports/{report}").get_json()
    assert detail["figures"]["scope"]["campaign_id"] == campaign and detail["as_of"].startswith("2026-11-03T10:00")
    got = {role: api.call(role, "GET", f"/statistics/campaigns/{campaign}/reports").status_code for role in ROLES}
    assert got == dict(staff=404, head=404, logistics_staff=404, security=200, leader=200, supervisor=200,
                       designer=404, outsider=404)
    assert api.call("outsider", "GET", f"/statistics/reports/{report}.xlsx").status_code == 404
    assert api.call(None, "GET", "/statistics").status_code == 401


def test_openapi_documents_the_statistics_endpoints(api):
    paths = api.client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/statistics", "/api/v1/statistics.xlsx", "/api/v1/statistics/campaigns/{campaign_id}/reports",
            "/api/v1/statistics/reports/{report_id}"} <= set(paths)
    params = {p["name"] for p in paths["/api/v1/statistics"]["get"]["parameters"]}
    assert {"org_id", "campaign_id", "start", "end", "as_of", "format"} <= params


def test_cli_show_export_and_generate(database_url, services, world, figures_world, tmp_path, clock):
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, ["--database-url", database_url, *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    shown = run("statistics", "show", "--user", "security", "--as-of", "2026-11-04")
    assert "total=3 open=2 closed=1" in shown and "消防" in shown
    figures = json.loads(run("statistics", "show", "--user", "head", "--json", "--as-of", "2026-11-04"))
    assert figures["scope"]["org_name"] == "机电工程学院"
    assert "error (not_found)" in run("statistics", "show", "--user", "head", "--org", str(world.orgs.school), code=2)
    assert "error (not_allowed)" in run("statistics", "show", "--user", "staff", code=2)
    out = tmp_path / "t.xlsx"
    run("statistics", "export", "--user", "security", "--report", str(figures_world["report"]), "-o", str(out))
    assert load_workbook(out).active["A1"].value.endswith("隐患问题统计表")
    assert "snapshots stored=0" in run("statistics", "generate", "--at", "2026-11-05T12:00")
