"""Photos inside a task's form (the rectify and accept forms' evidence fields): sent with the form, kept in the
step's transaction, and kept for the next try when the form is refused."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from engine.process.models import Event
from engine.rectification.models import Attachment

from .api_fixtures import api, api_app  # noqa: F401
from .test_hazard_records_web import PLAN, _registered, _task
from .ui_fixtures import PNG, app, field_error, login  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FIXED = {"measures": "已更换配电箱", "completion": "已完成"}


def _at_rectify(api, world) -> tuple[int, int]:
    hazard_id = _registered(api, world, "general")
    assert api.call("head", "POST", f"/tasks/{_task(api, hazard_id, 'rectification_plan')}/complete",
                    json={"data": PLAN}).status_code == 200
    task = _task(api, hazard_id, "rectify")
    assert api.call("staff", "POST", f"/tasks/{task}/claim").status_code == 200
    return hazard_id, task


def _attachments(services, hazard_id):
    with services.uow() as uow:
        return list(uow.session.scalars(select(Attachment).where(Attachment.hazard_id == hazard_id)
                                        .order_by(Attachment.id)))


def test_photos_sent_with_the_rectify_form_survive_a_refused_try_and_land_with_the_step(api, login, services, world):
    hazard_id, task = _at_rectify(api, world)
    client = login("staff")
    page = client.get(f"/tasks/{task}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'data-testid="evidence-photos"' in page
    assert 'capture=' not in page.split('data-testid="evidence-photos"')[0].rsplit("<input", 1)[1]  # camera or gallery
    # 整改完成情况 left empty: refused at its field, and the photo is kept (as a ticked token), not stored yet.
    refused = client.post(f"/tasks/{task}/complete", data={"measures": FIXED["measures"],
                                                           "photos": (io.BytesIO(PNG), "整改后.png")},
                          content_type="multipart/form-data")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and field_error(html, "completion") == "此项为必填项"
    assert 'data-testid="staged-photos"' in html and "整改后.png" in html
    assert 'value="已更换配电箱"' in html or "已更换配电箱" in html
    assert _attachments(services, hazard_id) == []
    token = re.search(r'name="staged:photos" value="([^"]+)"', html).group(1)
    done = client.post(f"/tasks/{task}/complete", data={**FIXED, "staged:photos": token,
                                                        "photos": (io.BytesIO(PNG + b"2"), "细节.png")},
                       content_type="multipart/form-data")
    assert done.status_code == 303, done.get_data(as_text=True)
    stored = _attachments(services, hazard_id)
    assert [(a.filename, a.task_id) for a in stored] == [("整改后.png", task), ("细节.png", task)]
    with services.uow() as uow:
        completed = uow.session.scalars(select(Event).where(Event.kind == "TaskCompleted",
                                                            Event.task_id == task)).one()
        assert completed.data["form"]["photos"] == [a.id for a in stored]
    assert client.get(f"/attachments/{stored[0].id}").data == PNG


def test_a_forged_or_foreign_token_and_a_bad_file_are_field_errors(api, login, services, world):
    hazard_id, task = _at_rectify(api, world)
    client = login("staff")
    forged = client.post(f"/tasks/{task}/complete", data={**FIXED, "staged:photos": "abc.def"},
                         content_type="multipart/form-data")
    assert forged.status_code == 422 and "已失效" in field_error(forged.get_data(as_text=True), "photos")
    bad = client.post(f"/tasks/{task}/complete", data={**FIXED, "photos": (io.BytesIO(b"MZ\x90\x00"), "x.exe")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "x.exe" in field_error(bad.get_data(as_text=True), "photos")
    refused = client.post(f"/tasks/{task}/complete", data={"photos": (io.BytesIO(PNG), "a.png")},
                          content_type="multipart/form-data")
    token = re.search(r'name="staged:photos" value="([^"]+)"', refused.get_data(as_text=True)).group(1)
    # A token is its user's own: the colleague who takes the task over cannot replay it.
    assert api.call("staff", "POST", f"/tasks/{task}/unclaim").status_code == 200
    assert api.call("staff2", "POST", f"/tasks/{task}/claim").status_code == 200
    replay = login("staff2").post(f"/tasks/{task}/complete", data={**FIXED, "staged:photos": token},
                                  content_type="multipart/form-data")
    assert replay.status_code == 422 and "已失效" in field_error(replay.get_data(as_text=True), "photos")
    assert _attachments(services, hazard_id) == []


def test_the_api_names_evidence_uploaded_before_and_refuses_another_hazards(api, services, world):
    hazard_id, task = _at_rectify(api, world)
    other_hazard = _registered(api, world, "general")
    mine = api.call("staff", "POST", f"/hazards/{hazard_id}/attachments",
                    data={"file": (io.BytesIO(PNG), "现场.png")}, content_type="multipart/form-data")
    theirs = api.call("staff", "POST", f"/hazards/{other_hazard}/attachments",
                      data={"file": (io.BytesIO(PNG), "别处.png")}, content_type="multipart/form-data")
    assert mine.status_code == 201 and theirs.status_code == 201, (mine.get_json(), theirs.get_json())
    foreign = api.call("staff", "POST", f"/tasks/{task}/complete",
                       json={"data": {**FIXED, "photos": [theirs.get_json()["id"]]}})
    assert foreign.status_code == 422 and foreign.get_json()["errors"][0]["field"] == "photos"
    done = api.call("staff", "POST", f"/tasks/{task}/complete", json={"data": {**FIXED, "photos": [mine.get_json()["id"]]}})
    assert done.status_code == 200, done.get_json()
