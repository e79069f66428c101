"""Campaign pages for inspection findings (联检联查 / 督导检查) and look-backs (回头看): record, start, re-inspect."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from engine.campaigns import checklists
from engine.campaigns.models import Campaign, CampaignUnit, LookBackResult, MissedHazard
from engine.campaigns.service import Campaigns
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask
from engine.rectification.models import Hazard

from .api_fixtures import REGISTER
from .test_pages_campaigns import CSV, STAGES, as_post, form_fields
from .ui_fixtures import app, field_error, login  # noqa: F401


@pytest.fixture
def campaign(services, world):
    """A running campaign of the school over two units, and an inspector (检查人员) of the school."""
    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        accounts.add_user(s, "inspector", "检查员", "pw-inspector", school, services.clock.now(),
                          roles=[("inspector", school)])
        template = checklists.import_checklist(s, CSV, "t.csv", "小清单", services.clock.now())
        uow.commit()
        items = [i.id for i in template.items]
    created = Campaigns(services).create_campaign(world.users.security, "校园安全专项整治", template.id,
                                                  [world.orgs.college, world.orgs.logistics], STAGES)
    return SimpleNamespace(id=created.id, items=items)


def _sign_as_fine(services, world, campaign):
    """The college answers its first item 已检查无问题 and its head signs the self-check."""
    Campaigns(services).record_item_results(world.users.staff, campaign.id, world.orgs.college,
                                            [{"item_id": campaign.items[0], "result": "checked"}])
    with services.uow() as uow:
        cu = uow.session.scalars(select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id,
                                                            CampaignUnit.org_id == world.orgs.college)).one()
        cu.status, cu.signed_at, cu.signed_by_id = "signed", services.clock.now(), world.users.head
        uow.commit()


def _flashes(html: str) -> str:
    return " ".join(re.findall(r'class="alert[^"]*"[^>]*>(.*?)<', html, re.S))


def test_inspector_records_a_finding_on_an_item_signed_as_fine(login, services, world, campaign):
    _sign_as_fine(services, world, campaign)
    client = login("inspector")
    dashboard = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'href="/campaigns/{campaign.id}/findings/new" data-testid="new-finding"' in dashboard
    page = client.get(f"/campaigns/{campaign.id}/findings/new").get_data(as_text=True)
    assert dict(form_fields(page, "finding-form"))["source"] == "joint_inspection"  # the joint-inspection stage
    assert "消防安全" in page and "<optgroup" in page
    response = client.post(f"/campaigns/{campaign.id}/findings/new", data={
        "unit": world.orgs.college, "item": campaign.items[0], "location": "实训楼A102", "problem": "消防栓被遮挡",
        "category": "消防", "source": "joint_inspection"})
    assert response.status_code == 303 and response.location.endswith(f"/campaigns/{campaign.id}")
    with services.uow() as uow:
        s = uow.session
        hazard = s.scalars(select(Hazard).where(Hazard.problem == "消防栓被遮挡")).one()
        assert (hazard.unit_id, hazard.campaign_id, hazard.source) == (world.orgs.college, campaign.id,
                                                                        "joint_inspection")
        missed = s.scalars(select(MissedHazard).where(MissedHazard.hazard_id == hazard.id)).all()
        assert [(m.org_id, m.person_id, m.signer_id) for m in missed] == [
            (world.orgs.college, world.users.staff, world.users.head)]
    shown = _flashes(client.get(response.location).get_data(as_text=True))
    assert "消防栓被遮挡" in shown and "应发现未发现 1 条" in shown and "机电工程学院" in shown


def test_bad_finding_input_keeps_what_was_typed_and_shows_the_field_error(login, services, world, campaign):
    client = login("inspector")
    url = f"/campaigns/{campaign.id}/findings/new"
    response = client.post(url, data={"unit": world.orgs.college, "item": "99999", "location": "食堂后厨",
                                      "problem": "", "category": "消防", "source": "supervision"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "problem") and field_error(html, "item")
    kept = dict(form_fields(html, "finding-form"))
    assert (kept["location"], kept["category"], kept["source"], kept["unit"]) == (
        "食堂后厨", "消防", "supervision", str(world.orgs.college))
    outside = client.post(url, data={"unit": world.orgs.security_unit, "location": "x", "problem": "y",
                                     "category": "消防", "source": "supervision"})
    assert outside.status_code == 422 and field_error(outside.get_data(as_text=True), "unit")
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Hazard)) == 0


@pytest.mark.parametrize("name, status", [("staff", 403), ("logistics_staff", 403), ("outsider", 404)])
def test_units_staff_may_not_record_findings_and_another_school_sees_nothing(login, services, world, campaign,
                                                                           name, status):
    client = login(name)
    url = f"/campaigns/{campaign.id}/findings/new"
    assert client.get(url).status_code == status
    assert client.post(url, data={"unit": world.orgs.college, "location": "x", "problem": "y", "category": "消防",
                                  "source": "supervision"}).status_code == status
    if status == 403:
        assert 'data-testid="new-finding"' not in client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Hazard)) == 0


def test_inspection_task_pages_link_to_the_finding_form(app, world, campaign):
    from web.pages.campaigns import campaign_link

    def task(bpmn_id, key=f"campaign:{campaign.id}"):
        return SimpleNamespace(bpmn_id=bpmn_id, instance=SimpleNamespace(business_key=key))

    with app.test_request_context():
        for bpmn_id in ("joint_inspection", "supervision_check"):
            assert campaign_link(task(bpmn_id))["finding_url"] == f"/campaigns/{campaign.id}/findings/new"
        assert "finding_url" not in campaign_link(task("closing_summary"))
        assert "finding_url" not in campaign_link(task("work_checklist", f"campaign:{campaign.id}:unit:1"))


def _closed_hazard(report_hazard, do, world) -> int:
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    do(hazard.id, "onsite_fix", world.users.staff, {"measures": "更换", "completion": "完成"})
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "close_hazard", world.users.security2, {"closing_note": "销号"})
    return hazard.id


def test_start_a_look_back_and_reinspect_a_hazard_as_reopened_once(login, services, world, report_hazard, do):
    hazard_id = _closed_hazard(report_hazard, do, world)
    client = login("security")
    assert 'data-testid="new-look-back"' in client.get("/campaigns").get_data(as_text=True)
    page = client.get("/campaigns/look-back/new").get_data(as_text=True)
    fields = dict(form_fields(page, "look-back-form"))
    assert fields["template"] == "shipped:seed002_look_back" and fields["stages.self_check.start"] == "2026-11-02"
    data = as_post(form_fields(page, "look-back-form"))
    data.update(sample_size=["5"], seed=["7"])
    response = client.post("/campaigns/look-back/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    look_back_id = int(re.search(r"/campaigns/(\d+)$", response.location).group(1))
    with services.uow() as uow:
        lb = uow.session.get(Campaign, look_back_id)
        assert (lb.kind, lb.sample, lb.sample_seed) == ("look_back", [hazard_id], 7)
        assert uow.session.scalars(select(CampaignUnit.org_id).where(
            CampaignUnit.campaign_id == look_back_id)).all() == [world.orgs.college]
    dashboard = client.get(response.location).get_data(as_text=True)
    assert "随机种子 7" in _flashes(dashboard) and f'data-testid="reinspect-{hazard_id}"' in dashboard

    url = f"/campaigns/{look_back_id}/look-back/hazards/{hazard_id}"
    assert client.post(url, data={"outcome": "reopened", "note": "防护罩再次缺失",
                                  "deadline": "2026-11-30"}).status_code == 303
    with services.uow() as uow:
        s = uow.session
        assert s.get(Hazard, hazard_id).repeat_count == 1
        assert s.scalars(select(HumanTask.bpmn_id).where(HumanTask.hazard_id == hazard_id,
                                                         HumanTask.state == "ready")).all() == ["rectification_plan"]
    again = client.post(url, data={"outcome": "holds"})
    assert again.status_code == 303
    html = client.get(again.location).get_data(as_text=True)
    assert "已在本次回头看中复查过" in _flashes(html)
    assert f'data-testid="sample-result-{hazard_id}">反弹' in html and f'data-testid="reinspect-{hazard_id}"' not in html
    with services.uow() as uow:
        s = uow.session
        assert [r.outcome for r in s.scalars(select(LookBackResult))] == ["reopened"]
        assert s.get(Hazard, hazard_id).repeat_count == 1

    outsider = login("outsider")
    assert outsider.get(f"/campaigns/{look_back_id}").status_code == 404
    assert outsider.post(url, data={"outcome": "holds"}).status_code == 404
    assert outsider.get("/campaigns/look-back/new").status_code == 403
    assert login("staff").post("/campaigns/look-back/new", data=data).status_code == 403


def test_look_back_page_narrows_the_sample_with_filters(login, services, world, report_hazard, do):
    hazard_id = _closed_hazard(report_hazard, do, world)
    client = login("security")
    page = client.get("/campaigns/look-back/new").get_data(as_text=True)
    assert 'name="filter_source"' in page and 'name="filter_closed_from"' in page and "机电工程学院" in page
    data = as_post(form_fields(page, "look-back-form"))
    data.update(sample_size=["5"], filter_source=["patrol"])
    none = client.post("/campaigns/look-back/new", data=data)
    html = none.get_data(as_text=True)
    assert none.status_code == 422 and "没有符合筛选条件" in field_error(html, "sample_size")
    assert 'value="patrol" checked' in html  # the choice is kept
    data = as_post(form_fields(html, "look-back-form"))  # the checklist, loaded by the first try, is kept too
    data.update(filter_source=["self_check"], filter_closed_from=["2026-11-03"], filter_closed_to=["2026-11-01"])
    backwards = client.post("/campaigns/look-back/new", data=data)
    assert backwards.status_code == 422
    assert "不能早于开始日期" in field_error(backwards.get_data(as_text=True), "filters.closed_to")
    data.update(filter_closed_from=[""], filter_closed_to=[""], filter_unit_ids=[str(world.orgs.college)])
    started = client.post("/campaigns/look-back/new", data=data)
    assert started.status_code == 303, started.get_data(as_text=True)
    look_back_id = int(re.search(r"/campaigns/(\d+)$", started.location).group(1))
    with services.uow() as uow:
        lb = uow.session.get(Campaign, look_back_id)
        assert lb.sample == [hazard_id]
        assert lb.sample_filters == {"source": ["self_check"], "unit_ids": [world.orgs.college]}
    summary = client.get(started.location).get_data(as_text=True)
    assert "来源：自查自纠" in summary and "单位：机电工程学院" in summary


def test_look_back_form_errors_stay_at_their_fields(login, services, world):
    client = login("security")
    data = as_post(form_fields(client.get("/campaigns/look-back/new").get_data(as_text=True), "look-back-form"))
    data.update(sample_size=["0"], seed=["abc"])
    response = client.post("/campaigns/look-back/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and field_error(html, "sample_size") and field_error(html, "seed")
    assert dict(form_fields(html, "look-back-form"))["seed"] == "abc"
    data.update(sample_size=["3"], seed=[""])
    empty = client.post("/campaigns/look-back/new", data=data)  # nothing closed yet: nothing to sample
    assert empty.status_code == 422 and "没有已销号的隐患" in field_error(empty.get_data(as_text=True), "sample_size")
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_finding_and_look_back_pages_read_in_english(login, services, world, campaign):
    from .test_pages_english import DATA, _chinese_labels

    client = login("inspector")
    assert client.post("/language", data={"lang": "en"}).status_code == 303
    finding = client.get(f"/campaigns/{campaign.id}/findings/new").get_data(as_text=True)
    assert "Record inspection finding" in finding and "Unit inspected" in finding
    # Left Chinese: the user's name, the campaign title, the checklist items and the units' names (data), nothing else.
    data = re.compile(DATA.pattern + r"|检查员|校园安全专项整治|食品安全|消防设施设备配备管理情况|消防应急演练落实情况|食堂从业人员健康证明")
    assert _chinese_labels(finding, data) == []
    security = login("security")
    security.post("/language", data={"lang": "en"})
    look_back = security.get("/campaigns/look-back/new").get_data(as_text=True)
    assert "Start a look-back" in look_back and "Random seed" in look_back
    assert _chinese_labels(look_back, re.compile(DATA.pattern + r"|\d{4}年.*|校园安全专项整治")) == []
    assert "What to sample from" in look_back and "Closed from" in look_back
