"""年度安全考核 over HTTP: the /assessment API (scope, roles, 422 field errors, 409, Excel) and the pages (the sheet
links each figure to its records, the scheme form, the submit and accident forms, the performance table)."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from engine.process.models import HumanTask
from engine.schedules.service import Schedules, run_due_schedules
from tests.integration.test_assessment_sources import add_head
from tests.integration.test_drills import china, do_drill

from .api_fixtures import api, api_app  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401

def _ready_tasks(services) -> list[HumanTask]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(HumanTask).where(HumanTask.state == "ready")))


ACCIDENT = {"occurred_on": "2026-11-01", "description": "实训中学生手部划伤"}


def test_the_assessment_api_checks_roles_validates_and_submits(api, world):
    college = world.orgs.college
    assert api.call("staff", "GET", "/assessment/2026").status_code == 403
    assert api.call("outsider", "GET", f"/assessment/2026?school_id={world.orgs.school}").status_code == 404
    perf = api.call("security", "GET", "/assessment/performance?start=2026-11-01&end=2026-11-30")
    assert perf.status_code == 200, perf.get_json()
    assert {u["name"] for u in perf.get_json()["units"]} == {"保卫处", "机电工程学院", "后勤管理处"}
    xlsx = api.call("leader", "GET", "/assessment/performance?format=xlsx")
    assert xlsx.status_code == 200 and load_workbook(io.BytesIO(xlsx.data)).active.title == "各单位隐患排查履职情况"

    scheme = api.call("security", "GET", "/assessment/scheme").get_json()
    assert "major_report_late" in {s["key"] for s in scheme["sources"]}
    bad = dict(scheme["scheme"], pass_mark=120, items=[dict(scheme["scheme"]["items"][0], source="drills")])
    refused = api.call("security", "PUT", "/assessment/scheme", json={"scheme": bad})
    assert refused.status_code == 422
    assert {e["field"] for e in refused.get_json()["errors"]} == {"pass_mark", "items.0.source"}
    assert api.call("leader", "PUT", "/assessment/scheme", json={"scheme": scheme["scheme"]}).status_code == 403

    assert api.call("security", "POST", "/accidents", json={**ACCIDENT, "unit_id": college, "description": ""}
                    ).status_code == 422
    assert api.call("leader", "POST", "/accidents", json={**ACCIDENT, "unit_id": college}).status_code == 403
    recorded = api.call("security", "POST", "/accidents", json={**ACCIDENT, "unit_id": college})
    assert recorded.status_code == 201, recorded.get_json()
    assert [a["id"] for a in api.call("leader", "GET", "/accidents?year=2026").get_json()] == [recorded.get_json()["id"]]

    preview = api.call("leader", "GET", "/assessment/2026").get_json()
    assert preview["status"] == "preview" and preview["id"] is None
    records = api.call("leader", "GET", f"/assessment/2026/units/{college}/items/accident").get_json()
    assert [r["id"] for r in records["records"]] == [recorded.get_json()["id"]]
    assert api.call("leader", "GET", f"/assessment/2026/units/{college}/items/nope").status_code == 404
    assert api.call("leader", "POST", "/assessment/2026/submit", json={}).status_code == 403
    submitted = api.call("security", "POST", "/assessment/2026/submit", json={})
    assert submitted.status_code == 201, submitted.get_json()
    assert submitted.get_json()["status"] == "submitted" and submitted.get_json()["instance_id"]
    assert api.call("security", "POST", "/assessment/2026/submit", json={}).status_code == 409
    sheet = api.call("leader", "GET", "/assessment/2026?format=xlsx")
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert "已提交待审定" in rows[1][0] and any(r[1] == "机电工程学院" and r[-2] == "不合格" for r in rows[3:])
    paths = api.call(None, "GET", "/openapi.json").get_json()["paths"]
    assert {"/api/v1/assessment/{year}", "/api/v1/assessment/{year}/submit", "/api/v1/assessment/scheme",
            "/api/v1/assessment/performance", "/api/v1/accidents"} <= set(paths)


def test_the_pages_link_every_figure_to_its_records_and_submit_the_sheet(services, world, login):
    college = world.orgs.college
    security = login("security")
    page = security.get("/assessment?year=2026")
    assert page.status_code == 200 and 'data-testid="nav-assessment"' in page.text
    assert 'data-testid="submit-assessment"' in page.text and 'data-testid="accident-form"' in page.text
    assert security.post("/assessment/accidents", data={**ACCIDENT, "unit_id": str(college)}).status_code == 303
    page = security.get("/assessment?year=2026")
    assert f'data-testid="veto-{college}-accident"' in page.text and "实训中学生手部划伤" in page.text
    assert f'href="/assessment/records?year=2026&amp;unit={college}&amp;key=patrols"' in page.text
    records = security.get(f"/assessment/records?year=2026&unit={college}&key=accident")
    assert records.status_code == 200 and "实训中学生手部划伤" in records.text
    assert security.get(f"/assessment/records?year=2026&unit={college}&key=nope").status_code == 404

    scheme = security.get("/assessment/scheme")
    assert scheme.status_code == 200 and 'data-testid="save-scheme"' in scheme.text
    bad = security.post("/assessment/scheme", data={"weight_coverage": "90", "pass_mark": "60"})
    assert bad.status_code == 422 and 'data-testid="form-errors"' in bad.text
    assert security.post("/assessment/scheme", data={"weight_coverage": "10", "weight_closed_on_time": "35",
                                                     "pass_mark": "50"}).status_code == 303
    assert 'value="50"' in security.get("/assessment/scheme").text
    leader = login("leader")
    assert 'data-testid="save-scheme"' not in leader.get("/assessment/scheme").text
    assert leader.post("/assessment/scheme", data={"pass_mark": "10"}).status_code == 403

    assert security.post("/assessment/submit", data={"year": "2026"}).status_code == 303
    page = leader.get("/assessment?year=2026")
    assert 'data-testid="submit-assessment"' not in page.text and "待校领导审定" in page.text
    [review] = [t for t in _ready_tasks(services) if t.bpmn_id == "review_assessment"]
    task_page = leader.get(f"/tasks/{review.id}")
    assert task_page.status_code == 200 and 'href="/assessment?year=2026"' in task_page.text
    perf = leader.get("/assessment/performance?start=2026-11-01&end=2026-11-30")
    assert perf.status_code == 200 and f'data-testid="perf-{college}"' in perf.text
    assert leader.get("/assessment/performance.xlsx").status_code == 200
    assert login("staff").get("/assessment").status_code == 403
    assert login("outsider").get(f"/assessment?school={world.orgs.school}").status_code == 404


def test_the_drills_figure_links_each_drill_to_its_unit_semester_and_the_drill_owed_to_its_schedule(
        services, world, login, clock):
    logistics = world.orgs.logistics
    head = add_head(services, logistics, "head_hq")
    schedule = Schedules(services).create_schedule(world.users.security, {
        "title": "应急演练", "cadence": "semester", "kind": "drill", "window": "P3M15D",
        "target": {"units": [{"org_id": logistics}]}})
    run_due_schedules(services)
    do_drill(services, world, logistics, head, world.users.logistics_staff)
    clock.set(china(2026, 12, 28, 10))
    page = login("security").get(f"/assessment/records?year=2026&unit={logistics}&key=drills")
    assert page.status_code == 200
    assert f'href="/drills/units/{logistics}?semester=2026-S2"' in page.text
    assert f'href="/schedules/{schedule.id}"' in page.text and "少 1 次（每学期至少 2 次）" in page.text
