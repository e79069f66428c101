"""The campaign pages (专项整治): start one from a shipped checklist, the dashboard, a unit's checklist, scope."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import event, func, select

from engine.campaigns import checklists
from engine.campaigns.models import Campaign, CampaignUnit, ItemResult
from engine.campaigns.service import Campaigns, campaign_stage_keys
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask
from engine.rectification.models import Hazard

from .ui_fixtures import app, field_error, login  # noqa: F401

CSV = ("督查项目,序号,督查内容,督查方法,责任部门\n"
       "消防安全,1,消防设施设备配备管理情况,查阅资料 现场查看,各二级学院 保卫处 后勤管理处\n"
       ",2,消防应急演练落实情况,查阅资料,各二级学院 保卫处 后勤管理处\n"
       "食品安全,1,食堂从业人员健康证明,查阅资料,后勤管理处\n").encode()
STAGES = {"self_check": {"start": "2026-11-02", "end": "2026-11-15"},
          "joint_inspection": {"start": "2026-11-16", "end": "2026-11-20"},
          "rectification": {"start": "2026-11-16", "end": "2026-12-15"},
          "supervision": {"start": "2026-12-16", "end": "2026-12-30"},
          "report_dates": ["2026-11-22", "2026-12-06"]}


class FormReader(HTMLParser):
    """The fields a browser would submit from one form as drawn (inputs, checked boxes, selected options)."""

    def __init__(self, testid: str):
        super().__init__()
        self.testid, self.inside, self.select, self.fields = testid, False, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("data-testid") == self.testid
        elif not self.inside:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "on")))
        elif tag == "select":
            self.select = a.get("name")
        elif tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_fields(html: str, testid: str) -> list[tuple[str, str]]:
    reader = FormReader(testid)
    reader.feed(html)
    return reader.fields


def as_post(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data


@pytest.fixture
def small_campaign(services, world):
    """A running campaign of the school over its three units, on a three-item checklist."""
    with services.uow() as uow:
        s = uow.session
        accounts.add_user(s, "head_hq", "周处长", "pw-head_hq", s.get(OrgNode, world.orgs.logistics),
                          services.clock.now(), roles=[("department_head", s.get(OrgNode, world.orgs.logistics))])
        template = checklists.import_checklist(s, CSV, "t.csv", "小清单", services.clock.now())
        uow.commit()
        template_id = template.id
        items = [i.id for i in template.items]
    units = [world.orgs.college, world.orgs.security_unit, world.orgs.logistics]
    campaign = Campaigns(services).create_campaign(world.users.security, "校园安全专项整治", template_id, units, STAGES)
    return campaign.id, items


def _campaign_count(services) -> int:
    with services.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Campaign))


def test_security_office_starts_a_campaign_from_a_shipped_checklist_with_the_proposed_values(login, services, world):
    client = login("security")
    assert 'data-testid="new-campaign"' in client.get("/campaigns").get_data(as_text=True)
    page = client.get("/campaigns/new").get_data(as_text=True)
    fields = form_fields(page, "campaign-form")
    values = dict(fields)
    assert values["title"] == "2026年校园安全专项整治"  # from seed 001's shipped checklist, the one proposed
    assert values["template"] == "shipped:seed001_twelve_areas"
    assert sorted(int(v) for n, v in fields if n == "unit_ids") == sorted(
        [world.orgs.security_unit, world.orgs.college, world.orgs.logistics])
    assert values["stages.self_check.start"] == "2026-11-02" and values["stages.supervision.end"] == "2027-01-01"
    assert [v for n, v in fields if n == "report_dates" and v] == ["2026-11-16", "2026-11-30", "2026-12-14",
                                                                   "2026-12-28"]
    assert "12 项" in page and "/campaigns/templates/shipped/seed001_twelve_areas" in page

    response = client.post("/campaigns/new", data=as_post(fields))
    assert response.status_code == 303
    campaign_id = int(re.search(r"/campaigns/(\d+)$", response.location).group(1))
    with services.uow() as uow:
        campaign = uow.session.get(Campaign, campaign_id)
        assert campaign.template.name == "seed001_twelve_areas" and len(campaign.template.items) == 12
        assert campaign.stages["report_dates"] == ["2026-11-16", "2026-11-30", "2026-12-14", "2026-12-28"]
        work = uow.session.scalars(select(HumanTask.candidate_org_id).where(HumanTask.bpmn_id == "work_checklist"))
        assert sorted(work) == sorted([world.orgs.security_unit, world.orgs.college, world.orgs.logistics])
    dashboard = client.get(response.location).get_data(as_text=True)
    assert "已发起" in dashboard and "2026年校园安全专项整治" in dashboard
    assert re.search(rf'data-testid="unit-answered-{world.orgs.college}">0/\d+<', dashboard)
    assert 'data-testid="figure-coverage">0.0%<' in dashboard
    listing = client.get("/campaigns").get_data(as_text=True)
    assert f'data-testid="campaign-{campaign_id}"' in listing and "自查自纠" in listing
    # The shipped checklist is now loaded: offered by id, not loaded twice.
    again = dict(form_fields(client.get("/campaigns/new").get_data(as_text=True), "campaign-form"))
    assert again["template"] == str(campaign.template_id)


def test_the_organiser_leaves_the_joint_inspection_out_and_sets_the_situation_report_due(login, services, world):
    client = login("security")
    fields = form_fields(client.get("/campaigns/new").get_data(as_text=True), "campaign-form")
    proposed = dict(fields)
    assert proposed["situation_report_due"] == proposed["stages.self_check.end"] == "2026-11-16"
    assert proposed["supervised_by"] == "bureau"
    data = as_post([(n, v) for n, v in fields if n != "stages.joint_inspection.on"])
    data["situation_report_due"] = ["2026-11-01"]  # before the self-check starts
    refused = client.post("/campaigns/new", data=data)
    assert refused.status_code == 422
    assert field_error(refused.get_data(as_text=True), "stages.situation_report_due") == "不能早于自查阶段开始日期"
    data["situation_report_due"] = ["2026-11-10"]
    response = client.post("/campaigns/new", data=data)
    assert response.status_code == 303
    with services.uow() as uow:
        campaign = uow.session.scalars(select(Campaign)).one()
        assert campaign_stage_keys(campaign.stages) == ["self_check", "rectification", "supervision"]
        assert campaign.stages["situation_report_due"] == "2026-11-10" and campaign.supervised_by == "bureau"
    dashboard = client.get(response.location).get_data(as_text=True)
    assert 'data-testid="stage-joint_inspection"' not in dashboard and 'data-testid="stage-rectification"' in dashboard
    assert 'data-testid="situation-report-due">2026-11-10<' in dashboard
    # The shipped checklist, loaded now, names no 牵头部门 of this school.
    lead = dict(data, supervised_by=["lead_units"], template=[str(campaign.template_id)])
    refused = client.post("/campaigns/new", data=lead)
    assert refused.status_code == 422 and "牵头部门" in field_error(refused.get_data(as_text=True), "supervised_by")


def test_create_form_shows_each_error_at_its_field_and_keeps_what_was_typed(login, services, world):
    client = login("security")
    fields = [(n, v) for n, v in form_fields(client.get("/campaigns/new").get_data(as_text=True), "campaign-form")
              if n not in ("unit_ids", "report_dates")]
    data = as_post(fields)
    data.update({"title": [""], "stages.self_check.end": [""], "stages.joint_inspection.start": ["2026-11-30"],
                 "stages.joint_inspection.end": ["2026-11-20"], "report_dates": ["2026-11-20", "2026-13-01"]})
    response = client.post("/campaigns/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "title") == "此项为必填项"
    assert field_error(html, "unit_ids") == "请至少选择一个单位"
    assert field_error(html, "stages.self_check") == "此项为必填项"
    assert field_error(html, "stages.joint_inspection") == "开始日期不能晚于截止日期"
    assert field_error(html, "stages.report_dates.1") == "请输入有效日期（年-月-日）"
    kept = dict(form_fields(html, "campaign-form"))
    assert kept["stages.joint_inspection.start"] == "2026-11-30" and 'value="2026-13-01"' in html
    assert _campaign_count(services) == 0

    data.update({"title": ["消防专项"], "unit_ids": [str(world.orgs.college)], "stages.self_check.end": ["2026-10-01"],
                 "stages.self_check.start": ["2026-09-20"], "stages.joint_inspection.start": ["2026-11-16"],
                 "report_dates": ["2026-11-20"]})
    late = client.post("/campaigns/new", data=data)
    assert late.status_code == 422 and field_error(late.get_data(as_text=True), "stages.self_check") == "截止日期不能早于今天"
    data["stages.self_check.end"] = ["2026-11-15"]
    assert client.post("/campaigns/new", data=data).status_code == 303
    assert _campaign_count(services) == 1


@pytest.mark.parametrize("name", ["staff", "head", "designer", "outsider"])
def test_only_organisers_may_start_a_campaign(login, name):
    client = login(name)
    assert client.get("/campaigns/new").status_code == 403
    assert client.post("/campaigns/new", data={"title": "x"}).status_code == 403
    assert 'data-testid="new-campaign"' not in client.get("/campaigns").get_data(as_text=True)


def test_dashboard_shows_each_units_progress_status_and_the_coverage(login, services, world, small_campaign):
    campaign_id, items = small_campaign
    campaigns = Campaigns(services)
    campaigns.record_item_results(world.users.logistics_staff, campaign_id, world.orgs.logistics,
                                  [{"item_id": i, "result": "checked"} for i in items])
    with services.uow() as uow:
        work = uow.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == "work_checklist",
                                                           HumanTask.candidate_org_id == world.orgs.logistics)).one()
    services.complete_task(work.id, world.users.logistics_staff, {})
    with services.uow() as uow:
        sign = uow.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == "sign_self_check")).one()
    head = next(u for u in _users(services) if u[1] == "head_hq")[0]
    services.complete_task(sign.id, head, {"signer_name": "周处长"})
    campaigns.record_item_results(world.users.staff, campaign_id, world.orgs.college,
                                  [{"item_id": items[0], "result": "na", "note": "无"}])

    html = login("security").get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert re.search(rf'data-testid="unit-answered-{world.orgs.logistics}">3/3<', html)
    assert re.search(rf'data-testid="unit-answered-{world.orgs.college}">1/2<', html)
    assert re.search(rf'data-testid="unit-status-{world.orgs.logistics}">已签字上报<', html) and "周处长" in html
    assert re.search(rf'data-testid="unit-status-{world.orgs.college}">自查中<', html)
    assert 'data-testid="figure-coverage">57.1%<' in html  # 4 of 7 items answered
    assert 'data-testid="stage-self_check"' in html and "审核自查报告" in html  # the signed unit's open task
    assert 'data-testid="bpmn-canvas"' in html
    diagram = login("security").get(f"/campaigns/{campaign_id}/diagram").get_json()
    assert diagram["active"] == ["collect_returns"] and "<bpmn:definitions" in diagram["xml"]
    signed_only = login("security").get(f"/campaigns/{campaign_id}?ustatus=signed").get_data(as_text=True)
    assert f"unit-row-{world.orgs.logistics}" in signed_only and f"unit-row-{world.orgs.college}" not in signed_only


def _users(services):
    from engine.org.models import User

    with services.uow() as uow:
        return list(uow.session.execute(select(User.id, User.username)))


def test_dashboard_costs_the_same_queries_for_more_units(login, services, world, small_campaign):
    campaign_id, _items = small_campaign
    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        extra = [accounts.add_org(s, "unit", f"第{n}学院", f"s-x{n}", school).id for n in range(4)]
        template_id = s.get(Campaign, campaign_id).template_id
        uow.commit()
    bigger = Campaigns(services).create_campaign(world.users.security, "扩大", template_id,
                                                 [world.orgs.college, world.orgs.logistics, *extra], STAGES).id
    client = login("security")
    engine_ = services.session_factory.kw["bind"]

    def statements(url):
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine_, "before_cursor_execute", listener)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(engine_, "before_cursor_execute", listener)
        return len(seen)

    assert statements(f"/campaigns/{campaign_id}") == statements(f"/campaigns/{bigger}")
    assert statements("/campaigns") == statements("/campaigns?status=running")


def test_unit_page_records_answers_and_a_found_hazard_starts_its_rectification(login, services, world, small_campaign):
    campaign_id, items = small_campaign
    client = login("staff")
    url = f"/campaigns/{campaign_id}/units/{world.orgs.college}"
    page = client.get(url).get_data(as_text=True)
    assert "消防设施设备配备管理情况" in page and "食堂从业人员健康证明" not in page  # the food item is 后勤's alone
    response = client.post(url, data={f"result-{items[0]}": "checked", f"note-{items[0]}": "灭火器均在有效期",
                                      f"result-{items[1]}": "hazard", f"problem-{items[1]}": "未组织消防应急演练",
                                      f"location-{items[1]}": "机电实训楼", f"category-{items[1]}": "消防"})
    assert response.status_code == 303
    with services.uow() as uow:
        s = uow.session
        results = {r.item_id: r for r in s.scalars(select(ItemResult))}
        hazard = s.scalars(select(Hazard).where(Hazard.campaign_id == campaign_id)).one()
        assert results[items[0]].result == "checked" and results[items[0]].note == "灭火器均在有效期"
        assert results[items[1]].hazard_id == hazard.id and results[items[1]].location == "机电实训楼"
        assert (hazard.unit_id, hazard.check_item, hazard.source) == (world.orgs.college, "消防应急演练落实情况",
                                                                      "self_check")
        assert s.scalars(select(HumanTask.bpmn_id).where(HumanTask.hazard_id == hazard.id)).all() == ["register_hazard"]
    page = client.get(url).get_data(as_text=True)
    assert "已保存 2 项" in page and "已进入整改流程" in page
    assert f'href="/hazards/{hazard.id}"' in page and "未组织消防应急演练" in page
    assert 'data-testid="unit-progress">已答 2 / 应答 2 项<' in page and "· staff 2026-11-02 09:00" in page
    # Saving again with nothing changed records nothing new and starts no second hazard.
    client.post(url, data={f"result-{items[0]}": "checked", f"note-{items[0]}": "灭火器均在有效期"})
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Hazard)) == 1
        assert uow.session.scalar(select(func.count()).select_from(ItemResult)) == 2


def test_unit_page_keeps_what_was_typed_when_a_hazard_answer_is_incomplete(login, services, world, small_campaign):
    campaign_id, items = small_campaign
    url = f"/campaigns/{campaign_id}/units/{world.orgs.college}"
    response = login("staff").post(url, data={f"result-{items[0]}": "checked", f"note-{items[0]}": "已查",
                                              f"result-{items[1]}": "hazard", f"location-{items[1]}": "三楼走廊"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, f"problem-{items[1]}") == "此项为必填项"
    assert 'value="三楼走廊"' in html and 'value="已查"' in html
    assert re.search(rf'id="r-{items[1]}-hazard" value="hazard"[^>]*checked', html)
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ItemResult)) == 0  # nothing half-saved


def test_security_office_answering_for_a_unit_files_the_hazard_under_that_unit(login, services, world,
                                                                              small_campaign):
    campaign_id, items = small_campaign
    response = login("security").post(f"/campaigns/{campaign_id}/units/{world.orgs.college}", data={
        f"result-{items[0]}": "hazard", f"problem-{items[0]}": "灭火器过期", f"location-{items[0]}": "实训楼A102",
        f"category-{items[0]}": "消防"})
    assert response.status_code == 303
    with services.uow() as uow:
        assert uow.session.scalars(select(Hazard.unit_id)).one() == world.orgs.college


def test_work_checklist_task_links_to_the_units_checklist(login, services, world, small_campaign):
    campaign_id, _items = small_campaign
    with services.uow() as uow:
        task = uow.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == "work_checklist",
                                                           HumanTask.candidate_org_id == world.orgs.college)).one()
    html = login("staff").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert f'href="/campaigns/{campaign_id}/units/{world.orgs.college}" data-testid="campaign-link"' in html
    unit_page = login("staff").get(f"/campaigns/{campaign_id}/units/{world.orgs.college}").get_data(as_text=True)
    assert f'href="/tasks/{task.id}" data-testid="unit-task-work_checklist"' in unit_page


def test_a_signed_self_check_is_read_only_on_the_unit_page(login, services, world, small_campaign):
    campaign_id, items = small_campaign
    with services.uow() as uow:
        cu = uow.session.scalars(select(CampaignUnit).where(CampaignUnit.org_id == world.orgs.college)).one()
        cu.status = "signed"
        uow.commit()
    client = login("staff")
    url = f"/campaigns/{campaign_id}/units/{world.orgs.college}"
    assert 'data-testid="save-checklist"' not in client.get(url).get_data(as_text=True)
    client.post(url, data={f"result-{items[0]}": "checked"})
    assert "已签字上报" in client.get(url).get_data(as_text=True)
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ItemResult)) == 0


# Who may open what: the campaign is the school's, over its three units.
SCOPE = {
    # user: (list shows it, dashboard, college unit page)
    "security": (True, 200, 200),
    "leader": (True, 200, 200),
    "supervisor": (True, 200, 200),
    "staff": (True, 200, 200),
    "head": (True, 200, 200),
    "logistics_staff": (True, 200, 404),
    "designer": (True, 200, 404),
    "outsider": (False, 404, 404),
}


@pytest.mark.parametrize("name", sorted(SCOPE))
def test_campaign_pages_follow_org_scope(login, world, small_campaign, name):
    campaign_id, items = small_campaign
    listed, dashboard, unit_page = SCOPE[name]
    client = login(name)
    assert (f'data-testid="campaign-{campaign_id}"' in client.get("/campaigns").get_data(as_text=True)) == listed
    assert client.get(f"/campaigns/{campaign_id}").status_code == dashboard
    assert client.get(f"/campaigns/{campaign_id}/diagram").status_code == dashboard
    url = f"/campaigns/{campaign_id}/units/{world.orgs.college}"
    assert client.get(url).status_code == unit_page
    assert client.post(url, data={f"result-{items[0]}": "checked"}).status_code == (303 if unit_page == 200 else 404)


def test_a_units_staff_see_only_their_own_row_on_the_dashboard(login, world, small_campaign):
    campaign_id, _items = small_campaign
    html = login("logistics_staff").get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert f"unit-row-{world.orgs.logistics}" in html and f"unit-row-{world.orgs.college}" not in html
    listing = login("logistics_staff").get("/campaigns").get_data(as_text=True)
    link = f'href="/campaigns/{campaign_id}/units/{world.orgs.logistics}" data-testid="my-checklist-{campaign_id}"'
    assert link in listing


def test_campaign_pages_are_private_to_caches(login, small_campaign):
    campaign_id, _items = small_campaign
    response = login("security").get(f"/campaigns/{campaign_id}")
    assert response.headers["Cache-Control"] == "private, no-store"
