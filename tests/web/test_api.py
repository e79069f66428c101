"""The REST API through the Flask test client: auth, scopes, conflicts, validation, files, OpenAPI."""
from __future__ import annotations

import io

from openapi_spec_validator import validate
from openpyxl import load_workbook

from engine.org import tokens
from engine.org.models import User
from tests.admins import add_admin

from .api_fixtures import REGISTER, api, api_app  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def test_openapi_document_validates_and_lists_every_endpoint(api):
    response = api.call(None, "GET", "/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/tasks", "/api/v1/tasks/{task_id}/claim", "/api/v1/tasks/{task_id}/unclaim",
            "/api/v1/tasks/{task_id}/delegate", "/api/v1/tasks/{task_id}/complete", "/api/v1/hazards",
            "/api/v1/hazards/{hazard_id}", "/api/v1/ledger.xlsx", "/api/v1/definitions",
            "/api/v1/hazards/{hazard_id}/attachments", "/api/v1/hazards/{hazard_id}/comments"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_requests_without_a_valid_token_get_401_json(api, services, world):
    for headers in ({}, {"Authorization": "Bearer rf_not-a-token"}, {"Authorization": "Basic abc"}):
        response = api.client.get("/api/v1/tasks", headers=headers)
        assert response.status_code == 401 and response.get_json()["code"] == "unauthenticated"
    token, plaintext = tokens.create_token(services, world.users.staff, "soon revoked")
    assert api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    tokens.revoke_token(services, token.id)
    assert api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401


def test_unknown_api_paths_answer_404_json(api):
    response = api.call("staff", "GET", "/no-such-thing")
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_report_list_and_timeline_of_a_hazard(api, world):
    created = api.call("staff", "POST", "/hazards", json={
        "location": "实训楼A102", "check_item": "设备防护", "problem": "车床防护罩缺失", "category": "实训实验室",
        "source": "self_check", "checked_at": "2026-11-02"})
    assert created.status_code == 201, created.get_json()
    hazard = created.get_json()
    assert hazard["unit_id"] == world.orgs.college and hazard["unit_serial"] == 1 and hazard["status"] == "register"
    listed = api.call("security", "GET", "/hazards?category=实训实验室&per_page=10").get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == hazard["id"]
    assert api.call("outsider", "GET", "/hazards").get_json()["total"] == 0
    detail = api.call("supervisor", "GET", f"/hazards/{hazard['id']}").get_json()
    assert [e["kind"] for e in detail["timeline"]][:2] == ["HazardReported", "TaskCreated"]
    assert detail["timeline"][0]["actor"] == "staff"
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["register_hazard"]


def test_invalid_report_is_422_naming_the_field(api):
    response = api.call("staff", "POST", "/hazards", json={
        "location": "", "problem": "x", "category": "消防", "source": "self_check"})
    body = response.get_json()
    assert response.status_code == 422 and body["code"] == "invalid_form_data"
    assert [e["field"] for e in body["errors"]] == ["location"]
    missing = api.call("staff", "POST", "/hazards", json={"problem": "x", "category": "消防", "source": "self_check"})
    assert missing.status_code == 422 and [e["field"] for e in missing.get_json()["errors"]] == ["location"]


def test_task_list_views_filters_and_detail_with_form_schema(api, report_hazard, world):
    first = report_hazard()
    report_hazard(world.users.logistics_staff, category="消防", location="食堂")
    groups = api.call("security", "GET", "/tasks?view=groups").get_json()
    assert groups["total"] == 2
    fire = api.call("security", "GET", "/tasks?view=groups&category=消防").get_json()
    assert [t["hazard"]["location"] for t in fire["items"]] == ["食堂"]
    paged = api.call("security", "GET", "/tasks?view=groups&per_page=1&page=2").get_json()
    assert len(paged["items"]) == 1 and paged["page"] == 2
    assert api.call("staff", "GET", "/tasks?view=all").get_json()["total"] == 1
    bad = api.call("staff", "GET", "/tasks?view=everything")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "view"
    task_id = groups["items"][0]["id"] if groups["items"][0]["hazard_id"] == first.id else groups["items"][1]["id"]
    detail = api.call("security", "GET", f"/tasks/{task_id}").get_json()
    assert detail["bpmn_id"] == "register_hazard" and detail["can_act"] is True
    assert "grade" in detail["form_schema"]["properties"] and detail["hazard"]["unit"]["name"] == "机电工程学院"


def test_double_claim_is_409_and_unclaim_delegate_work(api, report_hazard, task_of, world):
    hazard = report_hazard()
    task_id = task_of(hazard.id, "register_hazard").id
    assert api.call("security", "POST", f"/tasks/{task_id}/claim").get_json()["assignee_id"] == world.users.security
    second = api.call("security2", "POST", f"/tasks/{task_id}/claim")
    assert second.status_code == 409 and second.get_json()["code"] == "task_already_claimed"
    assert api.call("security", "POST", f"/tasks/{task_id}/unclaim").get_json()["assignee_id"] is None
    delegated = api.call("security", "POST", f"/tasks/{task_id}/delegate",
                         json={"to_user_id": world.users.security2, "reason": "出差"})
    assert delegated.status_code == 200 and delegated.get_json()["assignee_id"] == world.users.security2
    refused = api.call("security", "POST", f"/tasks/{task_id}/delegate", json={"to_user_id": world.users.staff})
    assert refused.status_code == 409
    typo = api.call("security2", "POST", f"/tasks/{task_id}/delegate", json={"to_user": world.users.security})
    assert typo.status_code == 422 and {e["field"] for e in typo.get_json()["errors"]} == {"to_user_id", "to_user"}


def test_complete_validates_fields_and_a_second_completion_is_409(api, report_hazard, task_of, world):
    hazard = report_hazard()
    task_id = task_of(hazard.id, "register_hazard").id
    invalid = api.call("security", "POST", f"/tasks/{task_id}/complete",
                       json={"data": {**REGISTER, "grade": "huge", "responsible_unit_id": world.orgs.college}})
    assert invalid.status_code == 422
    assert [e["field"] for e in invalid.get_json()["errors"]] == ["grade"]
    good = {"data": {**REGISTER, "responsible_unit_id": world.orgs.college}}
    done = api.call("security", "POST", f"/tasks/{task_id}/complete", json=good)
    assert done.status_code == 200 and done.get_json()["state"] == "completed"
    again = api.call("security2", "POST", f"/tasks/{task_id}/complete", json=good)
    assert again.status_code == 409 and again.get_json()["code"] == "stale_task"


def test_a_past_deadline_is_422_naming_the_field(api, report_hazard, task_of, world):
    task_id = task_of(report_hazard().id, "register_hazard").id
    refused = api.call("security", "POST", f"/tasks/{task_id}/complete",
                       json={"data": {**REGISTER, "deadline": "2020-01-01", "responsible_unit_id": world.orgs.college}})
    assert refused.status_code == 422 and refused.get_json()["code"] == "invalid_form_data"
    assert refused.get_json()["errors"] == [{"field": "deadline", "message": "2020-01-01 is before today (2026-11-02)"}]


def test_ledger_xlsx_is_the_seed_layout_and_scoped(api, report_hazard, world, services):
    report_hazard()
    with services.uow() as uow:
        uow.session.get(User, world.users.head).phone = "13900000002"
        uow.commit()
    response = api.call("head", "GET", f"/ledger.xlsx?unit_id={world.orgs.college}&status=open")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet["A1"].value == "某职业学院安全隐患自查整改清单" and sheet["A2"].value == "部门（章）：机电工程学院"
    assert sheet["A3"].value == "序号" and sheet["J3"].value == "备注" and sheet["B4"].value == "实训楼A102"
    footer = [row[0] for row in sheet.iter_rows(min_row=5, values_only=True) if row[0]]
    assert footer[-2].startswith("上报人：") and footer[-1] == "联系方式：13900000002"  # attachment 2's footer
    assert api.call("head", "GET", f"/ledger.xlsx?unit_id={world.orgs.school}").status_code == 404
    assert api.call("head", "GET", "/ledger.xlsx").status_code == 422


def test_evidence_upload_list_download_and_limits(api, report_hazard, world):
    hazard = report_hazard()
    upload = api.call("staff", "POST", f"/hazards/{hazard.id}/attachments",
                      data={"file": (io.BytesIO(PNG), "现场.jpg")}, content_type="multipart/form-data")
    assert upload.status_code == 201, upload.get_json()
    meta = upload.get_json()
    assert meta["content_type"] == "image/png" and meta["filename"] == "现场.jpg" and meta["size"] == len(PNG)
    listed = api.call("supervisor", "GET", f"/hazards/{hazard.id}/attachments").get_json()
    assert [a["id"] for a in listed] == [meta["id"]]
    content = api.call("security", "GET", f"/attachments/{meta['id']}/content")
    assert content.status_code == 200 and content.data == PNG and content.mimetype == "image/png"
    assert api.call("outsider", "GET", f"/attachments/{meta['id']}/content").status_code == 404
    bad = api.call("staff", "POST", f"/hazards/{hazard.id}/attachments",
                   data={"file": (io.BytesIO(b"MZ\x90\x00"), "a.png")}, content_type="multipart/form-data")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "file"
    big = api.call("staff", "POST", f"/hazards/{hazard.id}/attachments",
                   data={"file": (io.BytesIO(PNG + bytes(70 * 1024)), "big.png")}, content_type="multipart/form-data")
    assert big.status_code == 422 and "larger" in big.get_json()["message"]


def test_comments_are_added_and_listed(api, report_hazard):
    hazard = report_hazard()
    added = api.call("security", "POST", f"/hazards/{hazard.id}/comments", json={"body": "请补充照片"})
    assert added.status_code == 201 and added.get_json()["author"] == "security"
    assert [c["body"] for c in api.call("staff", "GET", f"/hazards/{hazard.id}/comments").get_json()] == ["请补充照片"]
    empty = api.call("staff", "POST", f"/hazards/{hazard.id}/comments", json={"body": " "})
    assert empty.status_code == 422 and empty.get_json()["errors"][0]["field"] == "body"
    assert api.call("outsider", "GET", f"/hazards/{hazard.id}/comments").status_code == 404


def test_definitions_list_and_deploy_by_designers_only(api, bpmn_dir, services, world):
    listed = api.call("staff", "GET", "/definitions").get_json()
    assert "hazard_rectification" in {d["key"] for d in listed}
    source = (bpmn_dir / "hazard_rectification.bpmn").read_bytes()
    changed = source.replace(b"</bpmn:definitions>", b"<!-- v2 --></bpmn:definitions>")

    def deploy(user, data):
        return api.call(user, "POST", "/definitions", data={"file": (io.BytesIO(data), "hazard_rectification.bpmn")},
                        content_type="multipart/form-data")

    assert deploy("security", changed).status_code == 403
    refused = deploy("designer", changed)  # the shipped process: the rectification code relies on it
    assert refused.status_code == 422 and "needs an explicit replace" in refused.get_json()["message"]
    assert refused.get_json()["errors"][0]["code"] == "replace-required"
    as_designer = api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(changed), "hazard_rectification.bpmn"), "replace": "true"})
    assert as_designer.status_code == 422 and "only an administrator" in as_designer.get_json()["message"]
    admin = tokens.create_token(services, add_admin(services, world), "tests")[1]
    deployed = api.client.post("/api/v1/definitions", headers={"Authorization": f"Bearer {admin}"},
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(changed), "hazard_rectification.bpmn"), "replace": "true"})
    assert deployed.status_code == 201 and deployed.get_json()["version"] == 2
    assert deployed.get_json()["replaced"] is True and deployed.get_json()["deployed_by"] == "admin"
    assert deployed.get_json()["change_summary"] == "against v1: no element changed (layout, diagram or comments only)"
    versions = {d["version"]: d for d in api.call("staff", "GET", "/definitions").get_json()
                if d["key"] == "hazard_rectification"}
    assert versions[2]["change_summary"].startswith("against v1") and versions[2]["deployed_by"] == "admin"
    assert versions[1]["change_summary"].startswith("first version: 9 user task(s)") and not versions[1]["replaced"]
    broken = deploy("designer", b"<not-bpmn/>")
    assert broken.status_code == 422 and broken.get_json()["code"] == "invalid_diagram"


def test_browser_session_works_and_its_writes_need_the_csrf_header(api_app, report_hazard, task_of):
    hazard = report_hazard()
    task_id = task_of(hazard.id, "register_hazard").id
    client = api_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/login", data={"username": "security", "password": "pw-security",
                                       "csrf_token": csrf}).status_code == 302
    assert client.get("/api/v1/tasks?view=groups").get_json()["total"] == 1
    refused = client.post(f"/api/v1/tasks/{task_id}/claim")
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["message"]
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers={"X-CSRFToken": csrf})
    assert claimed.status_code == 200 and claimed.get_json()["assignee_id"] is not None
