"""应发现未发现 (seed 002): school only; county and school; city, county and school."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.campaigns import checklists, coverage
from engine.campaigns.models import MissedHazard
from engine.campaigns.service import Campaigns
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask

CSV = ("督查项目,序号,督查内容,督查方法,责任部门\n"
       "消防安全,1,消防设施X,现场查看,学校\n"
       ",2,应急演练Y,查阅资料,学校\n"
       ",3,疏散通道Z,现场查看,学校\n").encode()
STAGES = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                     ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}


@pytest.fixture
def levels(services, world):
    """Users for the county, city and province levels and the school's own self-checkers."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        school = s.get(OrgNode, world.orgs.school)
        bureau = s.get(OrgNode, world.orgs.bureau)
        city, province = s.get(OrgNode, bureau.parent_id), s.get(OrgNode, s.get(OrgNode, bureau.parent_id).parent_id)
        college = s.get(OrgNode, world.orgs.college)

        def user(name, org, role):
            return accounts.add_user(s, name, name, "pw", org, now, roles=[(role, org)]).id

        users = dict(school_staff=user("school_staff", school, "department_staff"),
                     school_head=user("school_head", school, "department_head"),
                     county_office=user("county_office", bureau, "security_office"),
                     city_office=user("city_office", city, "security_office"),
                     city_sup=user("city_sup", city, "supervisor"),
                     province_sup=user("province_sup", province, "supervisor"))
        template = checklists.import_checklist(s, CSV, "t.csv", "三级", now)
        ids = dict(school=school.id, county=bureau.id, city=city.id, province=province.id, college=college.id,
                   template=template.id, items=[i.id for i in template.items])
        uow.commit()
    return users, ids


def _signed_self_check(services, campaigns, organiser, reviewer, org_id, unit_id, staff, head, answers, items):
    campaign = campaigns.create_campaign(organiser, "检查", items["template"], [unit_id], STAGES, org_id=org_id)
    campaigns.record_item_results(staff, campaign.id, unit_id, [
        {"item_id": item, "result": answer} for item, answer in zip(items["items"], answers)])

    def complete(bpmn_id, user, data):
        with services.uow() as uow:
            task = uow.session.scalars(select(HumanTask).where(HumanTask.bpmn_id == bpmn_id,
                                                               HumanTask.candidate_org_id.in_([unit_id, org_id]),
                                                               HumanTask.state == "ready")).one()
        services.complete_task(task.id, user, data)

    complete("work_checklist", staff, {})
    complete("sign_self_check", head, {"signer_name": "负责人"})
    complete("review_self_check", reviewer, {"decision": "accept"})
    return campaign


def _finding(services, campaigns, user, campaign, unit_id, item_index, items):
    hazard = campaigns.report_finding(user, campaign.id, unit_id, {
        "location": "实训楼", "problem": "发现问题", "category": "消防", "source": "supervision"},
        item_id=items["items"][item_index])
    with services.uow() as uow:
        rows = uow.session.scalars(select(MissedHazard).where(MissedHazard.hazard_id == hazard.id)).all()
        return sorted((r.level, r.person_id) for r in rows), hazard


def test_missed_hazards_are_charged_to_every_lower_level_as_seed_002_says(services, world, levels, clock):
    users, ids = levels
    campaigns = Campaigns(services)
    # The school's self-check (机电工程学院) says X, Y and Z are fine; the county's check of the school says X and
    # Z are fine (Y not applicable); the city's says X is fine.
    _signed_self_check(services, campaigns, world.users.security, world.users.security, ids["school"],
                       ids["college"], world.users.staff, world.users.head, ["checked"] * 3, ids)
    county = _signed_self_check(services, campaigns, world.users.supervisor, users["county_office"], ids["county"],
                                ids["school"], users["school_staff"], users["school_head"],
                                ["checked", "na", "checked"], ids)
    city = _signed_self_check(services, campaigns, users["city_sup"], users["city_office"], ids["city"],
                              ids["school"], users["school_staff"], users["school_head"], ["checked", "na", "na"], ids)
    province = campaigns.create_campaign(users["province_sup"], "省级督查", ids["template"], [ids["school"]], STAGES,
                                         org_id=ids["province"])
    clock.advance(days=1)

    by_county, _ = _finding(services, campaigns, world.users.supervisor, county, ids["college"], 1, ids)
    assert by_county == [("school", world.users.staff)]
    by_city, _ = _finding(services, campaigns, users["city_sup"], city, ids["college"], 2, ids)
    assert by_city == sorted([("school", world.users.staff), ("county", users["school_staff"])])
    by_province, hazard = _finding(services, campaigns, users["province_sup"], province, ids["college"], 0, ids)
    assert [level for level, _ in by_province] == ["city", "county", "school"]

    with services.uow() as uow:
        college_record = coverage.missed_for_unit(uow.session, ids["college"])
        assert [m.level for m in college_record] == ["school"] * 3
        assert {m.signer_id for m in college_record} == {world.users.head}
        assert coverage.missed_by_level(uow.session, province.id) == {"city": 1, "county": 1, "school": 1}
        assert coverage.campaign_coverage(uow.session, province.id)["missed"] == 3


def test_a_self_check_finding_charges_no_one(services, world, levels):
    users, ids = levels
    campaigns = Campaigns(services)
    school = _signed_self_check(services, campaigns, world.users.security, world.users.security, ids["school"],
                                ids["college"], world.users.staff, world.users.head, ["checked"] * 3, ids)
    hazard = campaigns.report_finding(world.users.staff, school.id, ids["college"], {
        "location": "实训楼", "problem": "自己发现", "category": "消防", "source": "self_check"},
        item_id=ids["items"][0])
    with services.uow() as uow:
        assert uow.session.scalars(select(MissedHazard).where(MissedHazard.hazard_id == hazard.id)).all() == []
