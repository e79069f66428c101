"""Hazard records through the pages and the API: a past 检查时间 accepted and a future one refused at the field."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine.rectification.models import Hazard

from .api_fixtures import api, api_app  # noqa: F401
from .test_pages_campaign_findings import campaign  # noqa: F401
from .ui_fixtures import app, field_error, login  # noqa: F401

REPORT = {"location": "实训楼A102", "problem": "砂轮机无防护", "category": "实训实验室", "source": "self_check"}


# Pages and API over the same verbs: SQLite is enough here (the storage tests run on both backends).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_past_check_date_is_taken_and_a_future_one_refused_on_the_pages_and_the_api(
        api, login, services, world, campaign):
    client = login("staff")
    future = client.post("/hazards/new", data={**REPORT, "checked_at": "2026-11-03"})
    html = future.get_data(as_text=True)
    assert future.status_code == 422 and "不能晚于今天" in field_error(html, "checked_at")
    assert 'value="实训楼A102"' in html  # nothing typed is lost
    assert client.post("/hazards/new", data={**REPORT, "checked_at": "2026-10-30"}).status_code == 303
    refused = api.call("staff", "POST", "/hazards", json={**REPORT, "checked_at": "2026-11-03"})
    assert refused.status_code == 422 and [e["field"] for e in refused.get_json()["errors"]] == ["checked_at"]
    past = api.call("staff", "POST", "/hazards", json={**REPORT, "checked_at": "2026-10-30"})
    assert past.status_code == 201 and past.get_json()["checked_at"] == "2026-10-30"
    # A campaign's finding (联检联查 on paper) carries the inspection day too.
    inspector = login("inspector")
    url = f"/campaigns/{campaign.id}/findings/new"
    finding = {"unit": world.orgs.college, "location": "食堂后厨", "problem": "灭火器过期", "category": "消防",
               "source": "joint_inspection"}
    late = inspector.post(url, data={**finding, "checked_at": "2026-11-05"})
    assert late.status_code == 422 and "不能晚于今天" in field_error(late.get_data(as_text=True), "checked_at")
    assert inspector.post(url, data={**finding, "checked_at": "2026-11-01"}).status_code == 303
    with services.uow() as uow:
        hazard = uow.session.scalars(select(Hazard).where(Hazard.problem == "灭火器过期")).one()
        assert hazard.checked_at == date(2026, 11, 1)

PLAN = {"plan_owner": "刘院长", "plan_measures": "更换配电箱", "plan_deadline": "2026-11-18",
        "plan_contingency": "断电停用"}


def _registered(api, world, grade):
    hazard_id = api.call("staff", "POST", "/hazards", json={**REPORT, "checked_at": "2026-11-02"}).get_json()["id"]
    task = _task(api, hazard_id, "register_hazard")
    done = api.call("security", "POST", f"/tasks/{task}/complete", json={"data": {
        "grade": grade, "responsible_unit_id": world.orgs.college, "responsible_person": "刘院长",
        "deadline": "2026-11-20", "onsite_fix": False}})
    assert done.status_code == 200, done.get_json()
    return hazard_id


def _task(api, hazard_id, bpmn_id):
    tasks = api.call("security", "GET", f"/hazards/{hazard_id}").get_json()["open_tasks"]
    return next(t["id"] for t in tasks if t["bpmn_id"] == bpmn_id)


def test_the_plan_page_shows_the_grade_and_asks_a_major_hazard_for_its_funds(api, login, world):
    hazard_id = _registered(api, world, "major")
    task = _task(api, hazard_id, "rectification_plan")
    assert api.call("head", "POST", f"/tasks/{task}/claim").status_code == 200
    client = login("head")
    page = client.get(f"/tasks/{task}").get_data(as_text=True)
    assert 'data-testid="readonly-grade">重大隐患<' in page and 'id="f-grade"' not in page
    refused = client.post(f"/tasks/{task}/complete", data={**PLAN, "grade": "general"})
    assert refused.status_code == 422 and field_error(refused.get_data(as_text=True), "plan_funds") == "此项为必填项"
    api_refused = api.call("head", "POST", f"/tasks/{task}/complete", json={"data": PLAN})
    assert api_refused.status_code == 422 and [e["field"] for e in api_refused.get_json()["errors"]] == ["plan_funds"]
    assert client.post(f"/tasks/{task}/complete", data={**PLAN, "plan_funds": "3 万元"}).status_code == 303


def test_a_reissued_notice_shows_its_revision_and_keeps_the_first_viewable(api, login, world):
    hazard_id = _registered(api, world, "general")
    task = _task(api, hazard_id, "rectification_plan")
    assert api.call("head", "POST", f"/tasks/{task}/complete",
                    json={"data": {**PLAN, "temporary_measures": "设置警戒线"}}).status_code == 200
    notice = api.call("head", "GET", f"/hazards/{hazard_id}/notice").get_json()
    assert notice["revision"] == 2 and notice["content"]["temporary_measures"] == "设置警戒线"
    assert [(v["revision"], v["content"]["temporary_measures"]) for v in notice["versions"]] == [
        (1, None), (2, "设置警戒线")]
    first = api.call("head", "GET", f"/hazards/{hazard_id}/notice/revisions/1").get_json()
    assert first["revision"] == 1 and first["deadline"] == "2026-11-20"
    assert api.call("head", "GET", f"/hazards/{hazard_id}/notice/revisions/3").status_code == 404
    client = login("head")
    current = client.get(f"/hazards/{hazard_id}/notice").get_data(as_text=True)
    assert "（第2版）" in current and "设置警戒线" in current and 'data-testid="notice-version-1"' in current
    old = client.get(f"/hazards/{hazard_id}/notice?revision=1").get_data(as_text=True)
    assert 'data-testid="superseded"' in old and "设置警戒线" not in old
    assert client.get(f"/hazards/{hazard_id}/notice?revision=9").status_code == 404


def test_a_closed_hazard_no_longer_shows_a_leftover_task_as_its_current_step(api, login, world):
    hazard_id = _registered(api, world, "major")
    steps = (("head", "rectification_plan", {**PLAN, "plan_funds": "3 万元"}),
             ("staff", "rectify", {"measures": "已更换配电箱", "completion": "已完成"}),
             ("security", "accept_rectification", {"accepted": True}),
             ("leader", "approve_closure", {"approved": True}))
    for user, bpmn_id, data in steps:
        done = api.call(user, "POST", f"/tasks/{_task(api, hazard_id, bpmn_id)}/complete", json={"data": data})
        assert done.status_code == 200, (bpmn_id, done.get_json())
    # 销号 is done; the bureau's 重大隐患即查即报 review is still open (archiving waits for it at the diagram's join).
    page = login("leader").get(f"/hazards/{hazard_id}").get_data(as_text=True)
    assert 'data-testid="closed-leftovers"' in page and "当前环节：" not in page
    assert 'data-testid="open-task-review_major_report"' in page
