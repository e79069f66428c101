"""应急演练与安全教育 in the pages and the API: the semester table per unit, a unit's page with its drill records and
photos, recording safety education (422 with field errors, nothing lost), and the scope of who sees what; and the
unit's headcount an administrator edits."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from engine.drills.models import DrillPhoto, DrillRecord, SafetyEducation
from engine.org import tokens
from engine.process.models import HumanTask
from engine.schedules.service import Schedules, run_due_schedules
from tests.admins import add_admin

from .api_fixtures import api, api_app  # noqa: F401
from .ui_fixtures import PNG, app, login  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

EDUCATION = {"held_on": "2026-10-20", "topic": "消防安全专题讲座", "class_hours": "4", "participants": "38"}


def _held_drill(services, world) -> int:
    """The college holds one drill of the 2026-S2 semester through its tasks; returns the record's id."""
    Schedules(services).create_schedule(world.users.security, {
        "title": "应急演练", "cadence": "semester", "kind": "drill",
        "target": {"units": [{"org_id": world.orgs.college}]}})
    run_due_schedules(services)

    def task():
        with services.uow() as uow:
            return uow.session.scalars(select(HumanTask).where(HumanTask.state == "ready")).one()
    services.complete_task(task().id, world.users.head, {"planned_on": "2026-11-01", "planned_scenario": "地震避险"})
    services.complete_task(task().id, world.users.staff, {"held_on": "2026-11-02", "scenario": "地震避险",
                                                          "participants": 30, "summary": "<b>全员</b>到达操场"})
    with services.uow() as uow:
        return uow.session.scalars(select(DrillRecord.id)).one()


def test_drill_pages_and_api_show_drills_photos_and_education_and_record_it(login, api, services, world):
    drill_id = _held_drill(services, world)
    staff = login("staff")
    table = staff.get("/drills?semester=2026-S2").get_data(as_text=True)
    assert f'data-testid="drills-held-{world.orgs.college}">1 / 2<' in table
    assert f'data-testid="drill-unit-{world.orgs.logistics}"' not in table, "staff see their own unit only"
    security_table = login("security").get("/drills").get_data(as_text=True)
    assert f'data-testid="drill-unit-{world.orgs.logistics}"' in security_table and "2026-S2" in security_table

    page = staff.get(f"/drills/units/{world.orgs.college}").get_data(as_text=True)
    assert "&lt;b&gt;全员&lt;/b&gt;到达操场" in page, "the summary is escaped"
    uploaded = staff.post(f"/drills/{drill_id}/photos", data={"files": [(io.BytesIO(PNG), "a.png"),
                                                                         (io.BytesIO(b"\x00\x01"), "x.bin")]},
                          content_type="multipart/form-data")
    assert uploaded.status_code == 303
    with services.uow() as uow:
        [photo] = uow.session.scalars(select(DrillPhoto)).all()
    assert staff.get(f"/drills/photos/{photo.id}").data == PNG
    assert login("outsider").get(f"/drills/photos/{photo.id}").status_code == 404
    assert login("logistics_staff").post(f"/drills/{drill_id}/photos", data={}).status_code == 404

    bad = staff.post(f"/drills/units/{world.orgs.college}/education", data={**EDUCATION, "class_hours": "0"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'data-testid="form-errors"' in html and 'value="消防安全专题讲座"' in html
    assert staff.post(f"/drills/units/{world.orgs.college}/education", data=EDUCATION).status_code == 303
    assert login("logistics_staff").post(f"/drills/units/{world.orgs.college}/education",
                                         data=EDUCATION).status_code == 404, "another unit is out of scope"
    refused = login("leader").post(f"/drills/units/{world.orgs.college}/education", data=EDUCATION,
                                   follow_redirects=True)
    assert refused.status_code == 200 and 'data-testid="education-form"' not in refused.get_data(as_text=True)
    with services.uow() as uow:
        assert [e.unit_id for e in uow.session.scalars(select(SafetyEducation))] == [world.orgs.college]
    page = staff.get(f"/drills/units/{world.orgs.college}").get_data(as_text=True)
    assert 'data-testid="unit-class-hours">4 / 8' in page

    admin_id = add_admin(services, world)
    admin = login("admin")
    assert 'data-testid="org-headcount"' in admin.get(f"/orgs/{world.orgs.college}").get_data(as_text=True)
    admin.post(f"/orgs/{world.orgs.college}/edit", data={"name": "机电工程学院", "code": "s-jd",
                                                               "headcount": "60"})
    table = staff.get("/drills").get_data(as_text=True)
    assert "（60人）" in table and "50%" in table, "30 of 60 took part in the drill"


    # The API reads the same figures and records education through the same verb.
    # The headcount participation counts against is an administrator's to set (units and grids only).
    admin = {"Authorization": f"Bearer {tokens.create_token(services, admin_id, 't')[1]}"}
    assert api.client.patch(f"/api/v1/orgs/{world.orgs.school}", headers=admin,
                            json={"headcount": 900}).status_code == 422
    assert api.call("head", "PATCH", f"/orgs/{world.orgs.college}", json={"headcount": 40}).status_code in (403, 404)
    patched = api.client.patch(f"/api/v1/orgs/{world.orgs.college}", headers=admin, json={"headcount": 40})
    assert patched.status_code == 200 and patched.json["headcount"] == 40
    body = api.call("security", "GET", "/drills?semester=2026-S2").get_json()
    assert (body["semester"], body["first_day"], body["last_day"]) == ("2026-S2", "2026-09-01", "2027-02-28")
    college = {u["unit_id"]: u for u in body["units"]}[world.orgs.college]
    assert (college["drills_held"], college["drills_required"], college["drill_participation"]) == (1, 2, 0.75)
    assert api.call("security", "GET", "/drills?semester=2026-S9").status_code == 422

    refused = api.call("staff", "POST", f"/drills/units/{world.orgs.college}/education",
                       json={**EDUCATION, "class_hours": 0, "participants": 38})
    assert refused.status_code == 422 and "class_hours" in {e["field"] for e in refused.get_json()["errors"]}
    created = api.call("staff", "POST", f"/drills/units/{world.orgs.college}/education",
                       json={**EDUCATION, "class_hours": 8, "participants": 40})
    assert created.status_code == 201
    assert api.call("outsider", "POST", f"/drills/units/{world.orgs.college}/education",
                    json={**EDUCATION, "class_hours": 8, "participants": 40}).status_code == 404
    unit = api.call("staff", "GET", f"/drills/units/{world.orgs.college}?semester=2026-S2").get_json()
    assert [d["scenario"] for d in unit["drills"]] == ["地震避险"] and len(unit["drills"][0]["photos"]) == 1
    assert [e["class_hours"] for e in unit["education"]] == [4, 8]
    row = {u["unit_id"]: u for u in api.call("staff", "GET", "/drills").get_json()["units"]}[world.orgs.college]
    assert (row["class_hours"], row["education_participation"], row["complete"]) == (12.0, 0.975, False)
