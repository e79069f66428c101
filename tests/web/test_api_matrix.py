"""Role × endpoint: every API endpoint answers each role of the demo world as its org scope says."""
from __future__ import annotations

import io

import pytest

from .api_fixtures import api, api_app  # noqa: F401

ROLES = ("staff", "head", "logistics_staff", "security", "leader", "supervisor", "designer", "outsider")


@pytest.fixture
def college_hazard(report_hazard):
    return report_hazard()


def _matrix(api, method, path, expected: dict[str, int], **kwargs):
    got = {}
    for role in ROLES:
        body = kwargs.get("body")
        response = api.call(role, method, path, **({"json": body} if body is not None else {}))
        got[role] = response.status_code
    assert got == expected


def test_reading_a_college_hazard_follows_org_scope(api, college_hazard):
    expected = dict(staff=200, head=200, logistics_staff=404, security=200, leader=200, supervisor=200,
                    designer=200, outsider=404)
    _matrix(api, "GET", f"/hazards/{college_hazard.id}", expected)
    _matrix(api, "GET", f"/hazards/{college_hazard.id}/comments", expected)
    _matrix(api, "GET", f"/hazards/{college_hazard.id}/attachments", expected)


def test_reading_its_task_follows_the_same_scope(api, college_hazard, task_of):
    task_id = task_of(college_hazard.id, "register_hazard").id
    _matrix(api, "GET", f"/tasks/{task_id}", dict(staff=200, head=200, logistics_staff=404, security=200, leader=200,
                                                  supervisor=200, designer=200, outsider=404))


def test_only_candidates_claim_others_in_scope_get_403_outside_404(api, college_hazard, task_of):
    task_id = task_of(college_hazard.id, "register_hazard").id
    got = {}
    for role in ROLES:
        got[role] = api.call(role, "POST", f"/tasks/{task_id}/claim").status_code
        if got[role] == 200:
            api.call(role, "POST", f"/tasks/{task_id}/unclaim")
    assert got == dict(staff=403, head=403, logistics_staff=404, security=200, leader=403, supervisor=403,
                       designer=403, outsider=404)


def test_lists_are_scoped_per_role(api, report_hazard, world):
    report_hazard()
    report_hazard(world.users.logistics_staff, location="食堂")
    report_hazard(world.users.outsider, location="另一学院仓库")
    totals = {role: api.call(role, "GET", "/hazards").get_json()["total"] for role in ROLES}
    assert totals == dict(staff=1, head=1, logistics_staff=1, security=2, leader=2, supervisor=3, designer=2,
                          outsider=1)
    open_tasks = {role: api.call(role, "GET", "/tasks?view=all").get_json()["total"] for role in ROLES}
    assert open_tasks == totals


def test_ledger_download_per_role(api, college_hazard, world):
    unit = dict(staff=200, head=200, logistics_staff=404, security=200, leader=200, supervisor=200, designer=200,
                outsider=404)
    _matrix(api, "GET", f"/ledger.xlsx?unit_id={world.orgs.college}", unit)
    school = dict(staff=404, head=404, logistics_staff=404, security=200, leader=200, supervisor=200, designer=200,
                  outsider=404)
    _matrix(api, "GET", f"/ledger.xlsx?unit_id={world.orgs.school}", school)


def test_deploying_definitions_is_for_designers_only(api, bpmn_dir):
    source = (bpmn_dir / "hazard_rectification.bpmn").read_bytes()
    got = {role: api.call(role, "POST", "/definitions", content_type="multipart/form-data",
                          data={"file": (io.BytesIO(source), "hazard_rectification.bpmn")}).status_code
           for role in ROLES}
    assert got == {role: 201 if role == "designer" else 403 for role in ROLES}
    assert {role: api.call(role, "GET", "/definitions").status_code for role in ROLES} == {r: 200 for r in ROLES}


def test_reporting_needs_a_school_in_scope(api, world):
    report = {"location": "门岗", "problem": "监控损坏", "category": "安防/治安", "source": "self_check"}
    got = {role: api.call(role, "POST", "/hazards", json=report).status_code for role in ROLES}
    # The bureau's supervisor has no school of their own: they must name one (below, in scope).
    assert got == {**{role: 201 for role in ROLES}, "supervisor": 403}
    named = api.call("supervisor", "POST", "/hazards", json={**report, "school_id": world.orgs.school})
    assert named.status_code == 201 and named.get_json()["school_id"] == world.orgs.school


@pytest.fixture
def college_campaign(services, world):
    """A campaign of the school over the college alone, on a two-item checklist; returns (campaign id, item ids)."""
    from engine.campaigns import checklists
    from engine.campaigns.service import Campaigns

    source = ("督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,各二级学院\n"
              ",2,应急演练,查阅资料,各二级学院\n").encode()
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, source, "m.csv", "矩阵清单", services.clock.now())
        uow.commit()
        items = [i.id for i in template.items]
    stages = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                         ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}
    campaign = Campaigns(services).create_campaign(world.users.security, "专项整治", template.id,
                                                   [world.orgs.college], stages)
    return campaign.id, items


def test_reading_a_campaign_follows_org_scope(api, world, college_campaign):
    campaign_id, _ = college_campaign
    expected = dict(staff=200, head=200, logistics_staff=404, security=200, leader=200, supervisor=200,
                    designer=200, outsider=404)
    _matrix(api, "GET", f"/campaigns/{campaign_id}", expected)
    _matrix(api, "GET", f"/campaigns/{campaign_id}/units", expected)
    _matrix(api, "GET", f"/campaigns/{campaign_id}/units/{world.orgs.college}/items", expected)
    _matrix(api, "GET", f"/campaigns/{campaign_id}/missed", expected)
    assert {role: api.call(role, "GET", "/checklists").status_code for role in ROLES} == {r: 200 for r in ROLES}


def test_answering_for_a_unit_is_for_its_own_people_and_the_security_office(api, world, college_campaign):
    campaign_id, items = college_campaign
    body = {"results": [{"item_id": items[0], "result": "checked"}]}
    _matrix(api, "POST", f"/campaigns/{campaign_id}/units/{world.orgs.college}/results",
            dict(staff=200, head=200, logistics_staff=404, security=200, leader=403, supervisor=403, designer=403,
                 outsider=404), body=body)


def test_findings_are_for_inspecting_roles(api, world, college_campaign):
    campaign_id, _ = college_campaign
    body = {"unit_id": world.orgs.college, "source": "joint_inspection", "location": "实训楼", "problem": "通道堵塞",
            "category": "消防"}
    _matrix(api, "POST", f"/campaigns/{campaign_id}/findings",
            dict(staff=403, head=403, logistics_staff=404, security=201, leader=201, supervisor=201, designer=403,
                 outsider=404), body=body)


def test_starting_campaigns_and_importing_checklists_is_for_organisers(api, world, college_campaign):
    template_id = api.call("security", "GET", "/checklists").get_json()["items"][0]["id"]
    stages = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                         ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}
    body = {"title": "专项整治", "template_id": template_id, "unit_ids": [world.orgs.college], "stages": stages}
    # The bureau's supervisor organises at the bureau: a county-level campaign over the college.
    _matrix(api, "POST", "/campaigns", dict(staff=403, head=403, logistics_staff=403, security=201, leader=201,
                                            supervisor=201, designer=403, outsider=403), body=body)
    source = "督查项目,序号,督查内容,督查方法,责任部门\n交通安全,1,校车,现场查看,后勤管理处\n".encode()
    got = {role: api.call(role, "POST", "/checklists", content_type="multipart/form-data",
                          data={"file": (io.BytesIO(source), "c.csv"), "name": f"清单-{role}"}).status_code
           for role in ROLES}
    assert got == {role: 201 if role == "security" else 403 for role in ROLES}
