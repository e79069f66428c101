"""巡查计划 pages, the /schedules API and `rectiflow schedule`: scope, management rights, validation, OpenAPI."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate
from sqlalchemy import select

from engine.schedules.models import InspectionSchedule
from engine.schedules.service import Schedules, run_due_schedules
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401


@pytest.fixture
def daily(services, world):
    """A daily patrol of the college's training building, set up by the security office."""
    return Schedules(services).create_schedule(world.users.security, {
        "title": "实训楼每日巡视", "cadence": "daily",
        "target": {"units": [{"org_id": world.orgs.college, "sites": ["实训楼A"]}]}})


def _count(services) -> int:
    with services.uow() as uow:
        return len(list(uow.session.scalars(select(InspectionSchedule.id))))


def test_the_security_office_creates_a_schedule_on_the_page_and_sees_its_occurrences(services, world, login):
    client = login("security")
    page = client.get("/schedules")
    assert page.status_code == 200 and 'data-testid="schedule-form"' in page.text
    assert 'data-testid="nav-schedules"' in page.text and page.headers["Cache-Control"] == "private, no-store"
    created = client.post("/schedules", data={
        "title": "重点部位每日巡视", "cadence": "daily", "kind": "patrol", "role": "department_staff",
        "unit": [str(world.orgs.logistics)], f"sites_{world.orgs.logistics}": "食堂、水源"})
    assert created.status_code == 303
    with services.uow() as uow:
        [schedule] = uow.session.scalars(select(InspectionSchedule))
    assert schedule.target["units"] == [{"org_id": world.orgs.logistics, "sites": ["食堂", "水源"]}]
    run_due_schedules(services)
    listed = client.get("/schedules").text
    assert "重点部位每日巡视" in listed and "后勤管理处（食堂、水源）" in listed
    assert re.search(r'data-testid="occurrence-\d+-2026-11-02">\s*2026-11-02 · 进行中 0/1', listed)
    assert 'data-testid="next-run-%d">2026-11-03 08:00' % schedule.id in listed
    detail = client.get(f"/schedules/{schedule.id}")
    assert detail.status_code == 200 and 'data-testid="occurrence-2026-11-02"' in detail.text
    assert client.post(f"/schedules/{schedule.id}/pause").status_code == 303
    assert f'data-testid="paused-{schedule.id}"' in client.get("/schedules").text
    client.post(f"/schedules/{schedule.id}/resume")
    assert f'data-testid="next-run-{schedule.id}"' in client.get("/schedules").text


def test_an_invalid_schedule_is_shown_again_with_its_errors(services, login):
    response = login("security").post("/schedules", data={"title": "周检", "cadence": "weekly", "kind": "patrol"})
    assert response.status_code == 422 and 'data-testid="form-errors"' in response.text
    assert "星期" in response.text and "巡查对象" in response.text and 'value="周检"' in response.text
    assert _count(services) == 0


def test_others_see_only_what_their_scope_allows_and_cannot_manage(services, world, login, daily):
    staff = login("staff")
    page = staff.get("/schedules")
    assert 'data-testid="no-schedules"' in page.text and "schedule-form" not in page.text
    assert 'data-testid="nav-schedules"' not in page.text
    assert staff.get(f"/schedules/{daily.id}").status_code == 404
    assert staff.post("/schedules", data={"title": "x", "cadence": "daily"}).status_code == 303
    staff.post(f"/schedules/{daily.id}/pause")
    supervisor = login("supervisor").get("/schedules").text
    assert "实训楼每日巡视" in supervisor and f"pause-{daily.id}" not in supervisor and "schedule-form" not in supervisor
    assert login("outsider").get(f"/schedules/{daily.id}").status_code == 404
    with services.uow() as uow:
        assert uow.session.get(InspectionSchedule, daily.id).active
    assert _count(services) == 1


def test_api_lists_creates_pauses_and_pages_occurrences_within_scope(services, world, api, daily):
    body = {"title": "消防安全检查日", "cadence": "weekly", "weekday": 5,
            "target": {"role": "security_office", "sites": ["学生宿舍", "图书馆"]}}
    created = api.call("security", "POST", "/schedules", json=body)
    assert created.status_code == 201, created.get_json()
    schedule = created.get_json()
    assert schedule["target"]["units"] == [{"org_id": world.orgs.school, "sites": ["学生宿舍", "图书馆"]}]
    assert api.call("staff", "POST", "/schedules", json=body).status_code == 403
    assert api.call("security", "POST", "/schedules", json={**body, "school_id": world.orgs.other_school}
                    ).status_code == 404
    invalid = api.call("security", "POST", "/schedules", json={**body, "weekday": None, "window": "7 days"})
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.get_json()["errors"]} == {"weekday", "window"}
    assert api.call("security", "POST", "/schedules", json={**body, "cadence": "hourly"}).status_code == 422

    assert [s["title"] for s in api.call("supervisor", "GET", "/schedules").get_json()] == [
        "实训楼每日巡视", "消防安全检查日"]
    assert api.call("outsider", "GET", "/schedules").get_json() == []
    assert api.call("outsider", "GET", f"/schedules/{daily.id}").status_code == 404
    assert api.call("outsider", "GET", f"/schedules/{daily.id}/occurrences").status_code == 404

    run_due_schedules(services)
    page = api.call("leader", "GET", f"/schedules/{daily.id}/occurrences?per_page=5").get_json()
    assert page["total"] == 1 and page["items"][0]["state"] == "open" and page["items"][0]["tasks_total"] == 1
    assert api.call("leader", "PATCH", f"/schedules/{daily.id}", json={"active": False}).status_code == 403
    assert api.call("outsider", "PATCH", f"/schedules/{daily.id}", json={"active": False}).status_code == 404
    paused = api.call("security", "PATCH", f"/schedules/{daily.id}", json={"active": False}).get_json()
    assert paused["active"] is False and paused["next_run_at"] is None
    assert paused["recent"][0]["period_key"] == "2026-11-02"


def test_openapi_documents_the_schedule_endpoints(api):
    spec = api.call(None, "GET", "/openapi.json").get_json()
    validate(spec)
    assert {"/api/v1/schedules", "/api/v1/schedules/{schedule_id}",
            "/api/v1/schedules/{schedule_id}/occurrences"} <= set(spec["paths"])
    assert set(spec["paths"]["/api/v1/schedules/{schedule_id}"]) >= {"get", "patch"}


def test_cli_demo_installs_seed_004_and_run_due_starts_each_schedule_once(database_url):
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, ["--database-url", database_url, *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run("demo", "--no-serve")
    listed = run("schedule", "list", "--user", "security")
    for title in ("全校安全隐患大排查大整改", "二级单位安全除患大排查大整改", "重点部位每日巡视", "应急演练", "消防安全检查日"):
        assert title in listed
    at = (datetime.now(timezone.utc) + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M")
    first = run("schedule", "run-due", "--at", at)
    assert "started=5" in first and "failed=0" in first
    assert "started=0" in run("schedule", "run-due", "--at", at)
    assert "missed" in run("schedule", "list") and "campaign" in run("schedule", "list")
    added = run("schedule", "add", "--user", "security", "--title", "配电间每周检查", "--cadence", "weekly",
                "--weekday", "3", "--unit", "gs-lz-cg-xdzy-houqin:配电间")
    assert re.search(r"schedule \d+ '配电间每周检查': next run", added)
    bad = run("schedule", "add", "--user", "staff_jd", "--title", "x", "--cadence", "daily", "--all-units", code=2)
    assert "not_allowed" in bad
    schedule_id = re.search(r"schedule (\d+)", added).group(1)
    assert "paused" in run("schedule", "pause", schedule_id, "--user", "security")
    assert "already installed" in run("schedule", "install", "--user", "security")
