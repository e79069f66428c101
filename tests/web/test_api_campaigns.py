"""Campaigns, look-backs and checklists over /api/v1: creation, scope, coverage, answers, findings, files, OpenAPI."""
from __future__ import annotations

import csv
import io

import pytest
from openapi_spec_validator import validate
from openpyxl import Workbook, load_workbook
from sqlalchemy import event, func, select

from engine.campaigns import checklists
from engine.campaigns.models import Campaign, ItemResult
from engine.campaigns.phase import ProcessTrace, campaign_phase
from engine.rectification.models import Hazard

from .api_fixtures import api, api_app  # noqa: F401

CSV = ("督查项目,序号,督查内容,督查方法,责任部门\n"
       "消防安全,1,消防设施设备配备管理情况,查阅资料 现场查看,各二级学院 保卫处 后勤管理处\n"
       ",2,消防应急演练落实情况,查阅资料,各二级学院 保卫处 后勤管理处\n"
       "食品安全,1,食堂从业人员健康证明,查阅资料,后勤管理处\n").encode()
STAGES = {"self_check": {"start": "2026-11-02", "end": "2026-11-15"},
          "joint_inspection": {"start": "2026-11-16", "end": "2026-11-20"},
          "rectification": {"start": "2026-11-16", "end": "2026-12-15"},
          "supervision": {"start": "2026-12-16", "end": "2026-12-30"},
          "report_dates": ["2026-11-22", "2026-12-06"]}
HAZARD = {"problem": "灭火器过期", "category": "消防", "location": "实训楼A102", "checked_at": "2026-11-02"}


@pytest.fixture
def checklist(services):
    """The three-item checklist; returns (template id, item ids)."""
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "小清单", services.clock.now())
        uow.commit()
        return template.id, [i.id for i in template.items]


@pytest.fixture
def start_campaign(api, world, checklist):
    """Factory: the security office starts a campaign over these units (default: the college) through the API."""

    def _start(units=None, title="校园安全专项整治", user="security"):
        response = api.call(user, "POST", "/campaigns", json={
            "title": title, "template_id": checklist[0], "stages": STAGES,
            "unit_ids": units or [world.orgs.college]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return _start


def _answer(api, user, campaign_id, org_id, rows):
    return api.call(user, "POST", f"/campaigns/{campaign_id}/units/{org_id}/results", json={"results": rows})


def _sign(api, campaign_id, org_id, staff="staff", head="head"):
    """Finish the unit's checklist task and have its head sign, both through the task API."""
    for user, bpmn_id, data in ((staff, "work_checklist", {"remarks": "已逐项自查"}),
                                (head, "sign_self_check", {"signer_name": "刘院长"})):
        tasks = api.call(user, "GET", f"/campaigns/{campaign_id}/units/{org_id}/items").get_json()["open_tasks"]
        task = next(t for t in tasks if t["bpmn_id"] == bpmn_id)
        done = api.call(user, "POST", f"/tasks/{task['id']}/complete", json={"data": data})
        assert done.status_code == 200, done.get_json()


def test_create_names_every_bad_field_then_starts_the_campaign(api, world, checklist):
    template_id = checklist[0]
    bad = api.call("security", "POST", "/campaigns", json={
        "title": "专项整治", "template_id": template_id, "unit_ids": [world.orgs.foreign_unit],
        "stages": {"self_check": {"end": "2026-11-15"},
                   "joint_inspection": {"start": "2026-11-30", "end": "2026-11-20"},
                   "rectification": {"end": "2026-12-15"}, "report_dates": ["not-a-date"]}})
    body = bad.get_json()
    # What the OpenAPI document states (the self-check, each given stage's end, dates) is refused first, at once...
    assert bad.status_code == 422 and body["code"] == "invalid_form_data"
    assert {e["field"] for e in body["errors"]} == {"stages/report_dates/0"}
    # ...then the rules it cannot state (units in scope, a start after its end), again every one at once.
    bad = api.call("security", "POST", "/campaigns", json={
        "title": "专项整治", "template_id": template_id, "unit_ids": [world.orgs.foreign_unit],
        "stages": {**STAGES, "joint_inspection": {"start": "2026-11-30", "end": "2026-11-20"}}})
    assert bad.status_code == 422 and {e["field"] for e in bad.get_json()["errors"]} == {
        "unit_ids", "stages/joint_inspection/start"}
    missing = api.call("security", "POST", "/campaigns", json={"template_id": 999, "unit_ids": [], "stages": {}})
    assert missing.status_code == 422 and {e["field"] for e in missing.get_json()["errors"]} == {
        "title", "stages/self_check"}
    no_template = api.call("security", "POST", "/campaigns", json={
        "title": "x", "template_id": 999, "unit_ids": [world.orgs.college], "stages": STAGES})
    assert no_template.status_code == 422 and no_template.get_json()["errors"][0]["field"] == "template_id"
    assert api.call("security", "GET", "/campaigns").get_json()["total"] == 0

    created = api.call("security", "POST", "/campaigns", json={
        "title": "校园安全专项整治", "template_id": template_id, "stages": STAGES,
        "unit_ids": [world.orgs.college, world.orgs.logistics]})
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()
    assert (campaign["kind"], campaign["level"], campaign["status"]) == ("campaign", "school", "running")
    assert campaign["org"]["id"] == world.orgs.school and campaign["template_name"] == "小清单"
    assert campaign["current_stage"] == "self_check" and campaign["open_tasks"] == []
    assert campaign["unit_tasks"]["work_checklist"] == 2
    assert campaign["coverage"]["units"] == 2 and campaign["coverage"]["items_required"] == 5
    assert campaign["coverage"]["percent"] == 0.0 and campaign["open_hazards"] == 0
    assert campaign["stages"]["report_dates"] == STAGES["report_dates"]


def test_campaign_lists_follow_scope_and_filters(api, world, start_campaign):
    both = start_campaign([world.orgs.college, world.orgs.logistics], title="两个单位")
    start_campaign([world.orgs.college], title="只有学院")
    totals = {user: api.call(user, "GET", "/campaigns").get_json()["total"]
              for user in ("staff", "logistics_staff", "security", "leader", "supervisor", "outsider")}
    assert totals == dict(staff=2, logistics_staff=1, security=2, leader=2, supervisor=2, outsider=0)
    listed = api.call("logistics_staff", "GET", "/campaigns").get_json()["items"]
    assert [c["id"] for c in listed] == [both["id"]] and listed[0]["org"]["name"] == "某职业学院"
    assert api.call("security", "GET", "/campaigns?kind=look_back").get_json()["total"] == 0
    assert api.call("security", "GET", "/campaigns?status=running&per_page=1&page=2").get_json()["items"][0][
        "title"] == "两个单位"
    assert api.call("security", "GET", "/campaigns?kind=other").status_code == 422


def test_unit_coverage_changes_after_answers(api, world, start_campaign, checklist):
    campaign = start_campaign([world.orgs.college, world.orgs.logistics])
    path = f"/campaigns/{campaign['id']}/units"
    before = {u["name"]: (u["required"], u["answered"]) for u in api.call("security", "GET", path).get_json()["items"]}
    assert before == {"机电工程学院": (2, 0), "后勤管理处": (3, 0)}
    items = checklist[1]
    done = _answer(api, "staff", campaign["id"], world.orgs.college,
                   [{"item_id": items[0], "result": "checked"}, {"item_id": items[1], "result": "na", "note": "无"}])
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["hazard_ids"] == [] and len(done.get_json()["result_ids"]) == 2
    assert done.get_json()["coverage"]["percent"] == 100.0
    after = {u["name"]: (u["answered"], u["checked"], u["not_applicable"], u["percent"])
             for u in api.call("security", "GET", path).get_json()["items"]}
    assert after == {"机电工程学院": (2, 1, 1, 100.0), "后勤管理处": (0, 0, 0, 0.0)}
    # A college's staff see only their own unit's row.
    assert [u["name"] for u in api.call("staff", "GET", path).get_json()["items"]] == ["机电工程学院"]
    detail = api.call("security", "GET", f"/campaigns/{campaign['id']}").get_json()
    assert detail["coverage"]["items_answered"] == 2 and detail["coverage"]["units_complete"] == 1


def test_hazard_answer_starts_a_hazard_visible_in_the_hazard_api(api, world, start_campaign, checklist):
    campaign = start_campaign()
    items = checklist[1]
    response = _answer(api, "staff", campaign["id"], world.orgs.college, [
        {"item_id": items[0], "result": "checked"},
        {"item_id": items[1], "result": "hazard", "location": "实训楼A102", "hazard": HAZARD}])
    assert response.status_code == 200, response.get_json()
    [hazard_id] = response.get_json()["hazard_ids"]
    hazard = api.call("staff", "GET", f"/hazards/{hazard_id}").get_json()
    assert hazard["campaign_id"] == campaign["id"] and hazard["check_item"] == "消防应急演练落实情况"
    assert hazard["source"] == "self_check" and [t["bpmn_id"] for t in hazard["open_tasks"]] == ["register_hazard"]
    assert api.call("security", "GET", f"/hazards?campaign_id={campaign['id']}").get_json()["total"] == 1
    unit = api.call("staff", "GET", f"/campaigns/{campaign['id']}/units/{world.orgs.college}/items").get_json()
    answers = {i["id"]: i["answers"] for i in unit["items"]}
    assert answers[items[1]][0]["hazard_id"] == hazard_id and answers[items[1]][0]["location"] == "实训楼A102"
    assert answers[items[0]][0]["by"] == "staff" and unit["coverage"]["hazards"] == 1
    assert api.call("security", "GET", f"/campaigns/{campaign['id']}").get_json()["open_hazards"] == 1


def test_invalid_answers_are_422_and_write_nothing(api, services, world, start_campaign, checklist):
    campaign = start_campaign()
    items = checklist[1]
    bad_hazard = _answer(api, "staff", campaign["id"], world.orgs.college, [
        {"item_id": items[0], "result": "checked"},
        {"item_id": items[1], "result": "hazard", "hazard": {**HAZARD, "category": "不存在"}}])
    assert bad_hazard.status_code == 422
    assert [e["field"] for e in bad_hazard.get_json()["errors"]] == ["results/1/hazard/category"]
    off_list = _answer(api, "staff", campaign["id"], world.orgs.college, [{"item_id": items[2], "result": "checked"}])
    assert off_list.status_code == 422 and off_list.get_json()["errors"][0]["field"] == "results/0/item_id"
    typo = _answer(api, "staff", campaign["id"], world.orgs.college, [{"item_id": items[0], "result": "ok"}])
    assert typo.status_code == 422 and typo.get_json()["errors"][0]["field"] == "results/0/result"
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ItemResult)) == 0
        assert uow.session.scalar(select(func.count()).select_from(Hazard)) == 0


def test_answers_after_sign_off_conflict_and_findings_record_missed(api, services, world, start_campaign,
                                                                   checklist):
    campaign = start_campaign()
    items = checklist[1]
    assert _answer(api, "staff", campaign["id"], world.orgs.college,
                   [{"item_id": i, "result": "checked"} for i in items[:2]]).status_code == 200
    _sign(api, campaign["id"], world.orgs.college)
    late = _answer(api, "staff", campaign["id"], world.orgs.college, [{"item_id": items[0], "result": "na"}])
    assert late.status_code == 409 and late.get_json()["code"] == "self_check_signed"
    units = api.call("security", "GET", f"/campaigns/{campaign['id']}/units?status=signed").get_json()
    assert [u["org_id"] for u in units["items"]] == [world.orgs.college]

    finding = api.call("supervisor", "POST", f"/campaigns/{campaign['id']}/findings", json={
        "unit_id": world.orgs.college, "item_id": items[0], "source": "supervision", "location": "实训楼A102",
        "problem": "消防栓被遮挡", "category": "消防", "checked_at": "2026-11-02"})
    assert finding.status_code == 201, finding.get_json()
    body = finding.get_json()
    assert body["hazard"]["unit_id"] == world.orgs.college and body["hazard"]["source"] == "supervision"
    assert [(m["level"], m["person"], m["signer_id"]) for m in body["missed"]] == [
        ("school", "staff", world.users.head)]
    missed = api.call("head", "GET", f"/campaigns/{campaign['id']}/missed?side=missed").get_json()
    assert missed["total"] == 1 and missed["items"][0]["hazard"]["problem"] == "消防栓被遮挡"
    assert api.call("logistics_staff", "GET", f"/campaigns/{campaign['id']}/missed").status_code == 404
    wrong_item = api.call("security", "POST", f"/campaigns/{campaign['id']}/findings", json={
        "unit_id": world.orgs.college, "item_id": 999, "source": "joint_inspection", "location": "x",
        "problem": "y", "category": "消防"})
    assert wrong_item.status_code == 422 and wrong_item.get_json()["errors"][0]["field"] == "item_id"
    with services.uow() as uow:
        uow.session.get(Campaign, campaign["id"]).status = "closed"
        uow.commit()
    ended = api.call("security", "POST", f"/campaigns/{campaign['id']}/findings", json={
        "unit_id": world.orgs.college, "source": "joint_inspection", "location": "x", "problem": "y", "category": "消防"})
    assert ended.status_code == 409 and ended.get_json()["code"] == "campaign_closed"
    assert api.call("security", "GET", f"/campaigns/{campaign['id']}").get_json()["current_stage"] == "closed"


def test_checklist_upload_with_a_bad_row_names_its_line_and_imports_nothing(api, checklist):
    before = api.call("staff", "GET", "/checklists").get_json()["total"]
    broken = CSV + "交通安全,x,校车管理,现场查看,后勤管理处\n,2,,打电话,\n".encode()

    def upload(user, data, filename="清单.csv", name="新清单"):
        return api.call(user, "POST", "/checklists", content_type="multipart/form-data",
                        data={"file": (io.BytesIO(data), filename), "name": name})

    refused = upload("security", broken)
    body = refused.get_json()
    assert refused.status_code == 422 and body["code"] == "checklist_import_failed"
    assert sorted({e["line"] for e in body["errors"]}) == [5, 6] and {e["field"] for e in body["errors"]} == {"file"}
    assert api.call("staff", "GET", "/checklists").get_json()["total"] == before
    assert upload("staff", CSV).status_code == 403
    assert upload("security", CSV, name="小清单").get_json()["errors"][0]["field"] == "name"
    book = Workbook()
    for row in csv.reader(io.StringIO(CSV.decode())):
        book.active.append(row)
    xlsx = io.BytesIO()
    book.save(xlsx)
    imported = upload("security", xlsx.getvalue(), filename="清单.xlsx")
    assert imported.status_code == 201, imported.get_json()
    assert imported.get_json()["item_count"] == 3 and imported.get_json()["items"][2]["category"] == "食品安全"
    listed = api.call("staff", "GET", "/checklists?per_page=1&page=2").get_json()
    assert listed["total"] == before + 1 and listed["items"][0]["name"] == "新清单"


def test_checklist_export_is_a_valid_workbook_and_csv(api, checklist):
    template_id = checklist[0]
    xlsx = api.call("staff", "GET", f"/checklists/{template_id}/export?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == checklists.HEADERS and rows[1][:3] == ("消防安全", 1, "消防设施设备配备管理情况")
    assert len(rows) == 4
    extra = api.call("staff", "GET", f"/checklists/{template_id}/export?format=csv&extra_columns=true")
    assert extra.data.decode("utf-8-sig").splitlines()[0] == "督查项目,序号,督查内容,督查方法,责任部门,适用部位,牵头部门"
    as_csv = api.call("staff", "GET", f"/checklists/{template_id}/export?format=csv")
    assert as_csv.status_code == 200 and as_csv.data.startswith("\ufeff督查项目".encode())
    detail = api.call("staff", "GET", f"/checklists/{template_id}").get_json()
    assert [i["serial"] for i in detail["items"]] == [1, 2, 1] and detail["items"][0]["methods"] == ["查阅资料", "现场查看"]
    assert api.call("staff", "GET", f"/checklists/{template_id}/export?format=pdf").status_code == 422
    assert api.call("staff", "GET", "/checklists/999/export").status_code == 404


def test_another_schools_campaign_and_another_units_items_are_404(api, world, start_campaign, checklist):
    campaign = start_campaign()
    cid = campaign["id"]
    for path in (f"/campaigns/{cid}", f"/campaigns/{cid}/units", f"/campaigns/{cid}/missed",
                 f"/campaigns/{cid}/units/{world.orgs.college}/items"):
        assert api.call("outsider", "GET", path).status_code == 404, path
    assert api.call("logistics_staff", "GET", f"/campaigns/{cid}").status_code == 404
    wide = start_campaign([world.orgs.college, world.orgs.logistics])
    assert api.call("staff", "GET", f"/campaigns/{wide['id']}/units/{world.orgs.logistics}/items").status_code == 404
    assert _answer(api, "staff", wide["id"], world.orgs.logistics,
                   [{"item_id": checklist[1][0], "result": "checked"}]).status_code == 404
    assert api.call("security", "GET", f"/campaigns/{cid}/units/{world.orgs.logistics}/items").status_code == 404
    assert api.call("outsider", "POST", f"/campaigns/{cid}/findings", json={
        "unit_id": world.orgs.college, "source": "supervision", "location": "x", "problem": "y",
        "category": "消防"}).status_code == 404


def test_roles_that_may_not_act_get_403(api, world, start_campaign, checklist):
    campaign = start_campaign()
    row = [{"item_id": checklist[1][0], "result": "checked"}]
    assert _answer(api, "leader", campaign["id"], world.orgs.college, row).status_code == 403
    assert _answer(api, "supervisor", campaign["id"], world.orgs.college, row).status_code == 403
    # The role is checked before the input: a department's staff get 403 even for a missing checklist.
    refused = api.call("staff", "POST", "/campaigns", json={
        "title": "x", "template_id": 999, "unit_ids": [world.orgs.college], "stages": STAGES})
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_allowed"
    finding = {"unit_id": world.orgs.college, "source": "joint_inspection", "location": "x", "problem": "y",
               "category": "消防"}
    assert api.call("staff", "POST", f"/campaigns/{campaign['id']}/findings", json=finding).status_code == 403
    look_back = {"template_id": checklist[0], "sample_size": 2, "stages": STAGES}
    assert api.call("staff", "POST", "/look-backs", json=look_back).status_code == 403


def test_current_stage_is_the_furthest_stage_the_process_reached_not_the_calendar():
    def trace(stages=(), done=(), sent=True):
        return ProcessTrace(stages=set(stages), done=set(done), self_checks_sent=sent)

    assert campaign_phase("running", trace(["joint_inspection", "self_check"])) == "joint_inspection"
    assert campaign_phase("running", trace(sent=False)) == "not_started"  # 自查阶段开始 has not fired
    assert campaign_phase("running", trace()) == "self_check"  # units at work, no campaign task yet
    assert campaign_phase("running", trace(["self_check"], ["review_returns"])) == "self_check"  # until 联检 opens
    # 联检联查 done: 整改清零 has no task of its own; a 催报 task left open does not pull the campaign back.
    assert campaign_phase("running", trace(["self_check", "joint_inspection"], ["joint_inspection"])) == "rectification"
    assert campaign_phase("running", trace(["supervision", "summary"], ["joint_inspection", "supervision_check"])) \
        == "summary"
    assert campaign_phase("closed", trace(["joint_inspection"])) == "closed"
    # Without a joint inspection (seed 001: 自查自纠 → 整改完善 → 督导检查), 整改完善 follows the self-check's review.
    seed001 = ("self_check", "rectification", "supervision")
    assert campaign_phase("running", trace(["self_check"], ["review_returns"]), seed001) == "rectification"
    assert campaign_phase("running", trace(["self_check"], ["review_returns"]), ("self_check", "supervision")) \
        == "self_check"


def test_the_organiser_chooses_the_stages_the_report_due_date_and_who_supervises(api, world, checklist):
    def create(**body):
        return api.call("security", "POST", "/campaigns", json={
            "title": "专项整治", "template_id": checklist[0], "unit_ids": [world.orgs.college], **body})

    three = {k: STAGES[k] for k in ("self_check", "rectification", "supervision")}
    refused = create(stages={**three, "joint_inspection": STAGES["joint_inspection"]},
                     stage_list=["rectification", "supervision"])
    assert refused.status_code == 422 and {e["field"] for e in refused.get_json()["errors"]} == {
        "stage_list", "stages/self_check", "stages/joint_inspection"}  # no self-check; windows of stages not chosen
    refused = create(stages={**three, "situation_report_due": "2026-11-01"}, stage_list=["self_check", "supervision"])
    assert {e["field"] for e in refused.get_json()["errors"]} == {"stages/rectification",
                                                                  "stages/situation_report_due"}
    refused = create(stages=three, supervised_by="lead_units")  # this checklist names no 牵头部门
    assert refused.status_code == 422 and [e["field"] for e in refused.get_json()["errors"]] == ["supervised_by"]
    assert create(stages=three, supervised_by="city").status_code == 422
    assert api.call("security", "GET", "/campaigns").get_json()["total"] == 0

    created = create(stages={**three, "situation_report_due": "2026-11-10"})
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()
    assert campaign["stage_list"] == ["self_check", "rectification", "supervision"]
    assert "joint_inspection" not in campaign["stages"] and campaign["stages"]["situation_report_due"] == "2026-11-10"
    assert campaign["supervised_by"] == "bureau" and campaign["supervision_reports"] == []
    default_due = create(stages={"self_check": STAGES["self_check"]}).get_json()
    assert default_due["stage_list"] == ["self_check"] and default_due["stages"]["situation_report_due"] == "2026-11-15"


def test_look_back_samples_closed_hazards_with_a_recorded_seed(api, services, world, report_hazard, checklist,
                                                               clock):
    look_back = {"template_id": checklist[0], "sample_size": 2, "stages": STAGES}
    empty = api.call("security", "POST", "/look-backs", json=look_back)
    assert empty.status_code == 422 and empty.get_json()["errors"][0]["field"] == "sample_size"
    hazards = [report_hazard(problem=f"问题{n}").id for n in range(4)]
    report_hazard(world.users.logistics_staff, location="食堂")
    with services.uow() as uow:
        for hazard in uow.session.scalars(select(Hazard).where(Hazard.id.in_(hazards[:3]))):
            hazard.closed_at = clock.now()
        uow.commit()
    first = api.call("security", "POST", "/look-backs", json={**look_back, "seed": 12345})
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["kind"] == "look_back" and body["title"] == "回头看" and body["sample_seed"] == 12345
    assert len(body["sample"]) == 2 and set(body["sample"]) <= set(hazards[:3])
    assert body["coverage"]["units"] == 1  # the sampled hazards' unit: the college
    again = api.call("security", "POST", "/look-backs", json={**look_back, "seed": 12345, "title": "回头看（复核）"})
    assert again.get_json()["sample"] == body["sample"]
    fresh = api.call("leader", "POST", "/look-backs", json=look_back).get_json()
    assert fresh["sample_seed"] is not None and fresh["created_by_id"] == world.users.leader
    assert api.call("security", "GET", "/campaigns?kind=look_back").get_json()["total"] == 3
    assert api.call("outsider", "GET", f"/campaigns/{body['id']}").status_code == 404
    # Filters narrow what is drawn and are recorded with the seed; a bad one is a field error and starts nothing.
    filtered = api.call("security", "POST", "/look-backs", json={
        **look_back, "sample_size": 10, "filters": {"source": ["self_check"], "closed_from": "2026-11-01",
                                                    "unit_ids": [world.orgs.college]}})
    assert filtered.status_code == 201, filtered.get_json()
    assert sorted(filtered.get_json()["sample"]) == sorted(hazards[:3])
    assert filtered.get_json()["sample_filters"] == {"source": ["self_check"], "closed_from": "2026-11-01",
                                                     "unit_ids": [world.orgs.college]}
    for filters, field in (({"closed_to": "2026-10-01", "closed_from": "2026-11-01"}, "filters/closed_to"),
                           ({"unit_ids": [world.orgs.foreign_unit]}, "filters/unit_ids"),
                           ({"colour": "red"}, "filters/colour")):
        refused = api.call("security", "POST", "/look-backs", json={**look_back, "filters": filters})
        assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == field, refused.get_json()
    nothing = api.call("security", "POST", "/look-backs", json={**look_back, "filters": {"grade": ["major"]}})
    assert nothing.status_code == 422 and "matches the filters" in nothing.get_json()["errors"][0]["message"]
    assert api.call("security", "GET", "/campaigns?kind=look_back").get_json()["total"] == 4


def test_unit_pages_cost_the_same_queries_for_one_unit_or_three(api, services, world, start_campaign, checklist):
    campaign = start_campaign([world.orgs.college, world.orgs.logistics, world.orgs.security_unit])
    for org_id in (world.orgs.college, world.orgs.logistics):
        _answer(api, "security", campaign["id"], org_id, [{"item_id": checklist[1][0], "result": "checked"}])
    engine = services.session_factory.kw["bind"]
    statements = []

    def count(*_args):
        statements.append(1)

    def queries(per_page):
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            response = api.call("security", "GET", f"/campaigns/{campaign['id']}/units?per_page={per_page}")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(response.get_json()["items"]) == per_page
        return len(statements)

    assert queries(1) == queries(3)


def test_openapi_document_lists_the_campaign_endpoints_and_validates(api):
    spec = api.call(None, "GET", "/openapi.json").get_json()
    validate(spec)
    paths = {"/checklists": {"get", "post"}, "/checklists/{template_id}": {"get"},
             "/checklists/{template_id}/export": {"get"}, "/campaigns": {"get", "post"},
             "/campaigns/{campaign_id}": {"get"}, "/campaigns/{campaign_id}/units": {"get"},
             "/campaigns/{campaign_id}/units/{org_id}/items": {"get"},
             "/campaigns/{campaign_id}/units/{org_id}/results": {"post"},
             "/campaigns/{campaign_id}/findings": {"post"}, "/campaigns/{campaign_id}/missed": {"get"},
             "/look-backs": {"post"}}
    for path, methods in paths.items():
        operations = spec["paths"][f"/api/v1{path}"]
        assert methods <= set(operations), path
        for method in methods:
            operation = operations[method]
            assert operation["summary"] and {"200", "201"} & set(operation["responses"]), (path, method)
    upload = spec["paths"]["/api/v1/checklists"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data"}
    assert spec["components"]["schemas"]["ChecklistUploadArgs"]["properties"].keys() == {"file", "name"}

