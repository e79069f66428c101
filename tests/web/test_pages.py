"""The server-rendered pages through Flask's test client: sign-in, inbox, task forms, reporting, evidence, i18n."""
from __future__ import annotations

import html as htmllib
import io
import json
import re

from engine.infra.config import Settings
from engine.rectification.attachments import EvidenceStore
from web.app import create_app

from .ui_fixtures import PNG, app, field_error, login, task_ids  # noqa: F401

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-20"}


def _register(do, world, hazard_id, **overrides):
    data = {**REGISTER, "responsible_unit_id": world.orgs.college, **overrides}
    return do(hazard_id, "register_hazard", world.users.security, data)


def test_anonymous_visitors_are_sent_to_the_sign_in_page(app):
    response = app.test_client().get("/inbox")
    assert response.status_code == 302 and "/login" in response.location


def test_wrong_password_is_refused_with_a_message_and_the_right_one_opens_the_inbox(app, world):
    client = app.test_client()
    refused = client.post("/login", data={"username": "security", "password": "nope"})
    assert refused.status_code == 401 and "用户名或密码不正确" in refused.get_data(as_text=True)
    signed_in = client.post("/login?next=/profile", data={"username": "security", "password": "pw-security"})
    assert signed_in.status_code == 302 and signed_in.location.endswith("/profile")
    assert "保卫处" in client.get("/profile").get_data(as_text=True)


def test_login_ignores_a_next_address_on_another_site(app, world):
    response = app.test_client().post("/login?next=//evil.example/x",
                                      data={"username": "security", "password": "pw-security"})
    assert response.location.endswith("/inbox")


def test_inbox_lists_group_tasks_with_counts_and_overdue_marks(login, report_hazard, clock):
    hazard = report_hazard(problem="配电柜前堆放杂物")
    client = login("security")
    page = client.get("/inbox?view=groups").get_data(as_text=True)
    assert "登记评估隐患" in page and "配电柜前堆放杂物" in page and "机电工程学院" in page
    assert re.search(r'data-testid="count-groups">1<', page)
    assert "已逾期" not in page.split("task-list")[1]
    clock.advance(days=2)  # register_hazard is due within a day
    overdue = client.get("/inbox?view=overdue").get_data(as_text=True)
    assert "配电柜前堆放杂物" in overdue and "bi-alarm-fill" in overdue
    assert re.search(r'data-testid="count-overdue">1<', overdue)
    assert hazard.id


def test_claim_unclaim_and_bulk_claim_move_tasks_between_tabs(login, report_hazard):
    first, second = report_hazard(problem="甲"), report_hazard(problem="乙")
    client = login("security")
    ids = task_ids(client.get("/inbox?view=groups").get_data(as_text=True))
    assert len(ids) == 2
    client.post(f"/tasks/{ids[0]}/claim")
    mine = client.get("/inbox?view=mine").get_data(as_text=True)
    assert re.search(r'data-testid="count-mine">1<', mine)
    client.post(f"/tasks/{ids[0]}/unclaim")
    response = client.post("/inbox/claim", data={"task_ids": [str(i) for i in ids]})
    assert response.status_code == 302
    mine = client.get("/inbox?view=mine").get_data(as_text=True)
    assert re.search(r'data-testid="count-mine">2<', mine) and "甲" in mine and "乙" in mine
    assert first.id != second.id


def test_claiming_from_the_inbox_with_htmx_returns_just_the_updated_row(login, report_hazard, task_of):
    task = task_of(report_hazard(problem="楼道堆物").id, "register_hazard")
    response = login("security").post(f"/tasks/{task.id}/claim", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-testid="task-{task.id}"' in html and "已认领" in html and "<html" not in html
    assert f'data-testid="unclaim-{task.id}"' in html


def test_an_htmx_claim_refreshes_the_tab_counts_out_of_band(login, report_hazard, task_of):
    task = task_of(report_hazard(problem="楼道堆物").id, "register_hazard")
    client = login("security")
    html = client.post(f"/tasks/{task.id}/claim?view=groups", headers={"HX-Request": "true"}).get_data(as_text=True)
    badges = dict(re.findall(r'<span id="count-(\w+)"[^>]*hx-swap-oob="true">(\d+)</span>', html))
    assert badges == {"mine": "1", "groups": "0", "overdue": "0"}
    html = client.post(f"/tasks/{task.id}/unclaim?view=mine", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert dict(re.findall(r'<span id="count-(\w+)"[^>]*hx-swap-oob="true">(\d+)</span>', html))["groups"] == "1"


def test_the_inbox_opens_on_the_first_tab_that_holds_work(login, report_hazard, task_of):
    task = task_of(report_hazard().id, "register_hazard")
    client = login("security")
    arrival = client.get("/inbox").get_data(as_text=True)
    assert re.search(r'class="nav-link active"[^>]*data-testid="tab-groups"', arrival), "nothing claimed: 组内待认领"
    assert f'data-testid="task-{task.id}"' in arrival
    client.post(f"/tasks/{task.id}/claim")
    assert re.search(r'class="nav-link active"[^>]*data-testid="tab-mine"', client.get("/inbox").get_data(as_text=True))
    empty = login("leader").get("/inbox").get_data(as_text=True)
    assert re.search(r'class="nav-link active"[^>]*data-testid="tab-mine"', empty), "no work anywhere: 我的任务"


def test_a_task_claimed_by_someone_else_cannot_be_claimed_again(login, report_hazard, task_of):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    login("security").post(f"/tasks/{task.id}/claim")
    other = login("security2")
    other.post(f"/tasks/{task.id}/claim")
    page = other.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "您可以查看但不能办理" in page and 'data-testid="task-form"' not in page


def test_delegating_hands_the_task_to_a_colleague(login, report_hazard, task_of, world):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    client = login("security")
    client.post(f"/tasks/{task.id}/claim")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "security2" in page  # the colleague is offered in the delegate list
    client.post(f"/tasks/{task.id}/delegate", data={"to_user_id": world.users.security2, "reason": "出差"})
    assert 'data-testid="task-form"' in login("security2").get(f"/tasks/{task.id}").get_data(as_text=True)


def test_task_form_shows_errors_at_the_fields_and_keeps_the_input(login, report_hazard, task_of, world):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    client = login("security")
    client.post(f"/tasks/{task.id}/claim")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert '<option value="major"' in page and "重大隐患" in page and 'type="date"' in page
    assert "机电工程学院" in page  # responsible unit is a choice of the school's units
    response = client.post(f"/tasks/{task.id}/complete",
                           data={"grade": "major", "responsible_person": "", "deadline": "2026-13-45",
                                 "responsible_unit_id": str(world.orgs.college)})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "responsible_person") == "此项为必填项"
    assert field_error(html, "deadline") == "请输入有效日期（年-月-日）"
    assert '<option value="major" selected' in html and 'value="2026-13-45"' in html
    done = client.post(f"/tasks/{task.id}/complete",
                       data={"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-20",
                             "responsible_unit_id": str(world.orgs.college)})
    assert done.status_code == 303
    assert "制定整改方案" in login("head").get("/inbox?view=groups").get_data(as_text=True)


def test_a_past_deadline_is_refused_at_its_field_and_the_input_is_kept(login, report_hazard, task_of, world):
    task = task_of(report_hazard().id, "register_hazard")
    client = login("security")
    client.post(f"/tasks/{task.id}/claim")
    assert 'min="2026-11-02"' in client.get(f"/tasks/{task.id}").get_data(as_text=True)
    response = client.post(f"/tasks/{task.id}/complete",
                           data={"grade": "major", "responsible_person": "刘院长", "deadline": "2020-01-01",
                                 "responsible_unit_id": str(world.orgs.college)})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and field_error(html, "deadline") == "整改期限不能早于今天"
    assert 'value="2020-01-01"' in html and 'value="刘院长"' in html and '<option value="major" selected' in html
    assert task_of(task.hazard_id, "register_hazard").id == task.id  # still open


def test_acceptance_rejection_needs_a_reason_then_sends_the_hazard_back(login, report_hazard, task_of, do, world):
    hazard = report_hazard()
    _register(do, world, hazard.id, onsite_fix=True)
    do(hazard.id, "onsite_fix", world.users.staff2, {"measures": "清理", "completion": "已完成"})
    task = task_of(hazard.id, "accept_rectification")
    client = login("security")
    client.post(f"/tasks/{task.id}/claim")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-testid="decide-yes"' in page and "验收不通过，退回整改" in page
    missing = client.post(f"/tasks/{task.id}/complete", data={"accepted": "false"})
    assert missing.status_code == 422 and field_error(missing.get_data(as_text=True), "reason") == "此项为必填项"
    client.post(f"/tasks/{task.id}/complete", data={"accepted": "false", "reason": "仍有杂物"})
    assert task_of(hazard.id, "rectify").bpmn_id == "rectify"
    detail = client.get(f"/hazards/{hazard.id}").get_data(as_text=True)
    assert "仍有杂物" in detail and "退回" in detail


def test_report_with_a_photo_then_the_photo_is_served_only_in_scope(login, world):
    client = login("staff")
    form = client.get("/hazards/new").get_data(as_text=True)
    # No `capture`: a phone offers the camera or the gallery.
    assert 'data-testid="evidence-photos"' in form and "capture=" not in form and "实训实验室" in form
    response = client.post("/hazards/new", content_type="multipart/form-data", data={
        "location": "实训楼A102", "problem": "砂轮机无防护", "category": "实训实验室", "source": "self_check",
        "checked_at": "2026-11-02", "photos": (io.BytesIO(PNG), "现场.png")})
    assert response.status_code == 303
    detail = client.get(response.location).get_data(as_text=True)
    url = re.search(r'src="(/attachments/\d+)"', detail).group(1)
    assert client.get(url).data == PNG
    assert login("security").get(url).status_code == 200
    assert login("outsider").get(url).status_code == 404
    assert login("logistics_staff").get(url).status_code == 404


def test_report_form_errors_keep_what_was_typed_and_the_photos(login, services):
    client = login("staff")
    response = client.post("/hazards/new", content_type="multipart/form-data", data={
        "location": "机房", "problem": "", "category": "消防", "source": "self_check", "checked_at": "2026-11-02",
        "photos": (io.BytesIO(PNG), "机房.png")})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and field_error(html, "problem") == "此项为必填项"
    assert 'value="机房"' in html and 'data-testid="staged-photos"' in html and "机房.png" in html
    token = re.search(r'name="staged:photos" value="([^"]+)"', html).group(1)
    done = client.post("/hazards/new", data={"location": "机房", "problem": "线缆杂乱", "category": "消防",
                                             "source": "self_check", "checked_at": "2026-11-02",
                                             "staged:photos": token})
    assert done.status_code == 303
    detail = client.get(done.location).get_data(as_text=True)
    assert client.get(re.search(r'src="(/attachments/\d+)"', detail).group(1)).data == PNG


def test_evidence_of_a_forbidden_type_is_refused_with_a_message(login, report_hazard):
    hazard = report_hazard()
    client = login("staff")
    client.post(f"/hazards/{hazard.id}/attachments", content_type="multipart/form-data",
                data={"files": (io.BytesIO(b"MZ\x90\x00binary\x00"), "virus.exe")})
    assert "未上传" in client.get(f"/hazards/{hazard.id}").get_data(as_text=True)


def test_comments_appear_on_the_hazard_for_everyone_in_scope(login, report_hazard):
    hazard = report_hazard()
    login("staff").post(f"/hazards/{hazard.id}/comments", data={"body": "请尽快处理"})
    assert "请尽快处理" in login("security").get(f"/hazards/{hazard.id}").get_data(as_text=True)


def test_hazard_detail_draws_the_loop_and_serves_the_diagram_with_the_current_step(login, report_hazard):
    hazard = report_hazard()
    client = login("security")
    page = client.get(f"/hazards/{hazard.id}").get_data(as_text=True)
    assert page.count('class="lbl"') == 7 and "登记评估" in page and 'aria-current="step"' in page
    assert "/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in page
    assert all(f'data-testid="zoom-{z}"' in page for z in ("in", "out", "fit"))  # the viewer's zoom buttons
    labels = json.loads(htmllib.unescape(re.search(r"data-role-labels='([^']+)'", page).group(1)))
    assert labels["security_office"] == "保卫处"  # lanes named by a role code are shown with its label
    diagram = client.get(f"/hazards/{hazard.id}/diagram").get_json()
    assert diagram["active"] == ["register_hazard"] and "<bpmn:definitions" in diagram["xml"]


def test_saved_filters_apply_and_can_be_shared_with_a_group(login, report_hazard, world):
    report_hazard(problem="消防问题", category="消防")
    report_hazard(problem="实验室问题")
    client = login("security")
    client.post("/inbox/filters", data={"name": "消防类", "category": "消防", "view": "groups",
                                        "share": f"security_office@{world.orgs.school}"})
    mine = client.get("/inbox?view=groups").get_data(as_text=True)
    filter_id = re.search(r'filter=(\d+)', mine).group(1)
    colleague = login("security2").get(f"/inbox?view=groups&filter={filter_id}").get_data(as_text=True)
    assert "消防类" in colleague and "消防问题" in colleague and "实验室问题" not in colleague


def test_ledger_page_and_excel_download_use_the_seed_layout(login, report_hazard, do, world):
    from openpyxl import load_workbook

    hazard = report_hazard(problem="车床防护罩缺失")
    _register(do, world, hazard.id, onsite_fix=True)
    do(hazard.id, "onsite_fix", world.users.staff2, {"measures": "加装防护罩", "completion": "已完成"})
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "close_hazard", world.users.security2, {"closing_note": "同意销号"})
    client = login("head")
    page = client.get("/ledger").get_data(as_text=True)
    for column in ("序号", "部位", "检查内容", "存在隐患问题", "整改措施", "整改完成情况", "责任人", "检查时间",
                   "销号时间", "备注"):
        assert f"<th scope=\"col\">{column}</th>" in page
    assert "车床防护罩缺失" in page and "row-closed" in page and "机电工程学院" in page
    response = client.get(f"/ledger.xlsx?unit={world.orgs.college}")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in sheet[3]]
    assert header == ["序号", "部位", "检查内容", "存在隐患问题", "整改措施", "整改完成情况", "责任人", "检查时间",
                      "销号时间", "备注"]
    assert sheet.cell(4, 4).value == "车床防护罩缺失" and sheet.cell(4, 9).value is not None


def test_language_switch_turns_the_interface_english_and_back(login):
    client = login("security")
    assert "我的待办" in client.get("/inbox").get_data(as_text=True)
    client.post("/language", data={"lang": "en", "next": "/inbox"})
    english = client.get("/inbox").get_data(as_text=True)
    assert "My tasks" in english and 'lang="en"' in english
    client.post("/language", data={"lang": "zh_CN"})
    assert 'lang="zh-CN"' in client.get("/inbox").get_data(as_text=True)


def test_forms_are_refused_without_a_csrf_token(services, world, tmp_path):
    services.evidence_store = EvidenceStore(tmp_path)
    app = create_app(Settings(secret_key="test-secret"), services=services, config={"TESTING": True})
    client = app.test_client()
    response = client.post("/login", data={"username": "security", "password": "pw-security"})
    assert response.status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    ok = client.post("/login", data={"username": "security", "password": "pw-security", "csrf_token": token})
    assert ok.status_code == 302


def test_pages_send_security_headers_and_load_nothing_from_other_sites(login):
    response = login("security").get("/inbox")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    html = response.get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_production_refuses_the_development_secret(services):
    import pytest

    with pytest.raises(RuntimeError, match="development SECRET_KEY"):
        create_app(Settings(), services=services, config={"RECTIFLOW_PRODUCTION": True})


def test_profile_issues_an_api_token_once_and_revokes_it(login):
    client = login("security")
    page = client.post("/profile/tokens", data={"name": "同步脚本"}).get_data(as_text=True)
    secret = re.search(r'<code class="user-select-all">([^<]+)</code>', page).group(1)
    assert "同步脚本" in page and secret not in client.get("/profile").get_data(as_text=True)
    token_id = re.search(r"/profile/tokens/(\d+)/revoke", page).group(1)
    client.post(f"/profile/tokens/{token_id}/revoke")
    assert "已吊销" in client.get("/profile").get_data(as_text=True)
