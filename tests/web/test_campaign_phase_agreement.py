"""One phase rule: the API's current_stage, the dashboard and the campaign list agree at every step of a campaign.

A campaign is walked with a moved clock through every phase its diagram has (not started, self-check, joint
inspection, rectification with hazards still open, supervision, summary, closed); at each step the three readings
are the same and the expected one.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask
from web.pages.campaign_common import PHASE_LABELS

from .api_fixtures import REGISTER, api, api_app  # noqa: F401
from .test_pages_campaigns import CSV, STAGES
from .ui_fixtures import app, login  # noqa: F401

# The joint inspection may open (11-09) before the self-check window closes (11-15): a phase read off the calendar
# would still say self_check after the joint inspection is done.
EARLY = {"self_check": {"start": "2026-11-04", "end": "2026-11-15"},
         "joint_inspection": {"start": "2026-11-09", "end": "2026-11-20"},
         "rectification": {"start": "2026-11-09", "end": "2026-12-15"},
         "supervision": {"start": "2026-12-16", "end": "2026-12-30"}}
HAZARD = {"problem": "灭火器过期", "category": "消防", "location": "实训楼A102", "checked_at": "2026-11-04"}
FINDING = {"problem": "燃气报警器失效", "category": "消防", "location": "第二食堂", "source": "joint_inspection",
           "checked_at": "2026-11-09"}


def china(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time().replace(hour=hour, minute=minute),
                            CHINA).astimezone(timezone.utc)


@pytest.fixture
def people(services, world):
    """Logistics' head and a school inspector, beside the world's users; returns their ids and the checklist's."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        logistics, school = s.get(OrgNode, world.orgs.logistics), s.get(OrgNode, world.orgs.school)
        head_hq = accounts.add_user(s, "head_hq", "周处长", "pw-head_hq", logistics, now,
                                    roles=[("department_head", logistics)]).id
        inspector = accounts.add_user(s, "inspector", "检查员", "pw-inspector", school, now,
                                      roles=[("inspector", school)]).id
        template = checklists.import_checklist(s, CSV, "t.csv", "小清单", now)
        uow.commit()
        return {"head_hq": head_hq, "inspector": inspector, "template": template.id,
                "items": [i.id for i in template.items]}


@pytest.fixture
def phase_shown(api, app, login):
    """phase_shown(campaign_id) -> (the API's current_stage, the dashboard's phase, the list's phase)."""
    client = login("security")

    def _shown(campaign_id: int) -> tuple[str, str, str]:
        stage = api.call("security", "GET", f"/campaigns/{campaign_id}").get_json()["current_stage"]
        dashboard = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
        on_page, label = re.search(r'data-testid="campaign-phase" data-phase="(\w+)">([^<]+)<', dashboard).groups()
        listing = client.get("/campaigns").get_data(as_text=True)
        in_list = re.search(rf'data-testid="campaign-phase-{campaign_id}" data-phase="(\w+)"', listing).group(1)
        with app.test_request_context():
            assert label == str(PHASE_LABELS[on_page])  # the label drawn is the phase's own
        return stage, on_page, in_list

    return _shown


def _task(services, bpmn_id: str, org_id: int | None = None) -> int:
    with services.uow() as uow:
        stmt = select(HumanTask.id).where(HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready")
        if org_id is not None:
            stmt = stmt.where(HumanTask.candidate_org_id == org_id)
        return uow.session.scalars(stmt).one()


def _return_self_check(services, world, campaign_id, unit, staff, head, rows):
    """The unit answers, its head signs, and the security office accepts its self-check report."""
    Campaigns(services).record_item_results(staff, campaign_id, unit, rows)
    services.complete_task(_task(services, "work_checklist", unit), staff, {"remarks": "已逐项自查"})
    services.complete_task(_task(services, "sign_self_check", unit), head, {"signer_name": "负责人"})
    services.complete_task(_task(services, "review_self_check", world.orgs.school), world.users.security,
                           {"decision": "accept"})


def _close(do, world, hazard_id, unit, fixer):
    do(hazard_id, "register_hazard", world.users.security, {**REGISTER, "deadline": "2026-12-10",
                                                            "responsible_unit_id": unit, "onsite_fix": True})
    do(hazard_id, "onsite_fix", fixer, {"measures": "更换灭火器", "completion": "已完成"})
    do(hazard_id, "accept_rectification", world.users.security, {"accepted": True, "opinion": "整改到位"})
    do(hazard_id, "close_hazard", world.users.security2, {"closing_note": "同意销号"})


def test_api_and_pages_show_the_same_phase_through_a_whole_campaign(services, world, clock, people, do,
                                                                    phase_shown):
    college, logistics, items = world.orgs.college, world.orgs.logistics, people["items"]
    campaign = Campaigns(services).create_campaign(world.users.security, "校园安全专项整治", people["template"],
                                                   [college, logistics], EARLY)
    assert phase_shown(campaign.id) == ("not_started",) * 3  # created 11-02; the self-check opens 11-04

    clock.set(china("2026-11-04", 9))
    services.fire_due_timers()
    assert phase_shown(campaign.id) == ("self_check",) * 3
    _return_self_check(services, world, campaign.id, college, world.users.staff, world.users.head,
                       [{"item_id": items[0], "result": "hazard", "location": HAZARD["location"], "hazard": HAZARD},
                        {"item_id": items[1], "result": "checked"}])
    _return_self_check(services, world, campaign.id, logistics, world.users.logistics_staff, people["head_hq"],
                       [{"item_id": i, "result": "checked"} for i in items])
    services.complete_task(_task(services, "review_returns"), world.users.security, {"summary": "全部上报"})
    assert phase_shown(campaign.id) == ("self_check",) * 3  # reviewed; the joint inspection opens 11-09

    clock.set(china("2026-11-09", 9))
    services.fire_due_timers()
    assert phase_shown(campaign.id) == ("joint_inspection",) * 3
    Campaigns(services).report_finding(people["inspector"], campaign.id, logistics, FINDING, item_id=items[2])
    services.complete_task(_task(services, "joint_inspection"), people["inspector"], {"summary": "全校联检"})
    # Two hazards open, the self-check window not over yet (11-15): the campaign is rectifying.
    assert phase_shown(campaign.id) == ("rectification",) * 3

    with services.uow() as uow:
        hazard_id = uow.session.scalars(select(HumanTask.hazard_id).where(
            HumanTask.bpmn_id == "register_hazard", HumanTask.state == "ready")).all()
    _close(do, world, min(hazard_id), college, world.users.staff)
    assert phase_shown(campaign.id) == ("rectification",) * 3  # one hazard still open

    clock.set(china("2026-12-15", 19))  # 整改阶段截止 has passed; 督导检查 opens tomorrow
    services.fire_due_timers()
    assert phase_shown(campaign.id) == ("rectification",) * 3
    clock.set(china("2026-12-16", 9))
    services.fire_due_timers()
    assert phase_shown(campaign.id) == ("supervision",) * 3

    services.complete_task(_task(services, "supervision_check", world.orgs.bureau), world.users.supervisor,
                           {"report": "抽查两个单位，一处隐患待整改"})
    assert phase_shown(campaign.id) == ("summary",) * 3
    services.complete_task(_task(services, "closing_summary", world.orgs.school), world.users.leader,
                           {"summary": "专项整治完成"})
    assert phase_shown(campaign.id) == ("closed",) * 3


def test_a_chase_task_left_open_does_not_pull_the_campaign_back_to_the_self_check(services, world, clock, people,
                                                                                  phase_shown):
    college, items = world.orgs.college, people["items"]
    campaign = Campaigns(services).create_campaign(world.users.security, "专项整治", people["template"], [college],
                                                   STAGES)
    clock.set(china("2026-11-15", 18, 5))  # the college missed 18:00: the security office is to chase it
    services.fire_due_timers()
    chase = _task(services, "chase_missing_returns", world.orgs.school)
    assert phase_shown(campaign.id) == ("self_check",) * 3

    clock.set(china("2026-11-16", 9))
    _return_self_check(services, world, campaign.id, college, world.users.staff, world.users.head,
                       [{"item_id": i, "result": "checked"} for i in items[:2]])
    services.complete_task(_task(services, "review_returns"), world.users.security, {"summary": "全部上报"})
    services.fire_due_timers()
    assert phase_shown(campaign.id) == ("joint_inspection",) * 3
    Campaigns(services).report_finding(people["inspector"], campaign.id, college, FINDING, item_id=items[0])
    services.complete_task(_task(services, "joint_inspection"), people["inspector"], {"summary": "全校联检"})
    assert phase_shown(campaign.id) == ("rectification",) * 3
    with services.uow() as uow:
        assert uow.session.get(HumanTask, chase).state == "ready"  # the chase is still open
