"""A small campaign end to end with a moved clock: each unit its own instance, returns by message, later stages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.campaigns import checklists, coverage
from engine.campaigns.models import Campaign, CampaignUnit
from engine.campaigns.service import Campaigns, ChecklistIncomplete
from engine.infra.errors import InvalidFormData, NotAllowed
from engine.org import accounts
from engine.org.models import OrgNode, RoleGrant
from engine.process.models import (
    HumanTask,
    MessageSubscription,
    ProcessInstance,
    ProcessMessage,
)
from engine.rectification.models import Hazard

CSV = ("督查项目,序号,督查内容,督查方法,责任部门\n"
       "消防安全,1,消防设施设备配备管理情况,查阅资料 现场查看,各二级学院 保卫处 后勤管理处\n"
       ",2,消防应急演练落实情况,查阅资料,各二级学院 保卫处 后勤管理处\n"
       "食品安全,1,食堂从业人员健康证明,查阅资料,后勤管理处\n").encode()
STAGES = {"self_check": {"start": "2026-11-02", "end": "2026-11-15"},
          "joint_inspection": {"start": "2026-11-16", "end": "2026-11-20"},
          "rectification": {"start": "2026-11-16", "end": "2026-12-15"},
          "supervision": {"start": "2026-12-16", "end": "2026-12-30"},
          "report_dates": ["2026-11-22", "2026-12-06", "2026-12-20", "2027-01-03"]}
HAZARD = {"problem": "灭火器过期", "category": "消防", "location": "实训楼A102"}


@pytest.fixture
def campaign_world(services, world):
    """World plus heads and an inspector, and a three-item checklist; returns (campaigns, template id, users)."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        school = s.get(OrgNode, world.orgs.school)
        extra = {}
        for name, org_id, role in (("head_bw", world.orgs.security_unit, "department_head"),
                                   ("staff_bw", world.orgs.security_unit, "department_staff"),
                                   ("head_hq", world.orgs.logistics, "department_head"),
                                   ("inspector", world.orgs.school, "inspector")):
            org = s.get(OrgNode, org_id)
            scope = school if role == "inspector" else org
            extra[name] = accounts.add_user(s, name, name, "pw", org, now, roles=[(role, scope)]).id
        template = checklists.import_checklist(s, CSV, "t.csv", "小清单", now)
        uow.commit()
    return Campaigns(services), template.id, extra


def _tasks(services, bpmn_id, org_id=None, state="ready"):
    with services.uow() as uow:
        stmt = select(HumanTask).where(HumanTask.bpmn_id == bpmn_id, HumanTask.state == state)
        if org_id is not None:
            stmt = stmt.where(HumanTask.candidate_org_id == org_id)
        return list(uow.session.scalars(stmt.order_by(HumanTask.id)))


def _one(services, bpmn_id, org_id=None):
    tasks = _tasks(services, bpmn_id, org_id)
    assert len(tasks) == 1, (bpmn_id, org_id, tasks)
    return tasks[0]


def _items(services, template_id):
    with services.uow() as uow:
        return [i.id for i in checklists.get_template(uow.session, template_id).items]


def _self_check(services, campaigns, campaign_id, unit, staff, head, items, hazard_item=None):
    results = [{"item_id": i, "result": "checked"} for i in items if i != hazard_item]
    if hazard_item:
        results.append({"item_id": hazard_item, "result": "hazard", "location": "实训楼A102",
                        "hazard": dict(HAZARD, checked_at="2026-11-02")})
    campaigns.record_item_results(staff, campaign_id, unit, results)
    services.complete_task(_one(services, "work_checklist", unit).id, staff, {"remarks": "已逐项自查"})
    services.complete_task(_one(services, "sign_self_check", unit).id, head, {"signer_name": "负责人"})


def _close_hazard(services, world, hazard_id):
    def do(bpmn_id, user, data):
        with services.uow() as uow:
            task = uow.session.scalars(select(HumanTask).where(HumanTask.hazard_id == hazard_id,
                                                               HumanTask.bpmn_id == bpmn_id,
                                                               HumanTask.state == "ready")).one()
        services.complete_task(task.id, user, data)

    with services.uow() as uow:
        unit_id = uow.session.get(Hazard, hazard_id).unit_id
    do("register_hazard", world.users.security, {"grade": "general", "responsible_unit_id": unit_id,
                                                 "responsible_person": "负责人", "deadline": "2026-11-30",
                                                 "onsite_fix": True})
    with services.uow() as uow:
        task = uow.session.scalars(select(HumanTask).where(HumanTask.hazard_id == hazard_id,
                                                           HumanTask.state == "ready")).one()
        fixer = uow.session.scalars(select(RoleGrant.user_id).where(
            RoleGrant.role == task.candidate_role, RoleGrant.org_id == task.candidate_org_id)).first()
    do("onsite_fix", fixer, {"measures": "更换灭火器", "completion": "已完成"})
    do("accept_rectification", world.users.security, {"accepted": True, "opinion": "合格"})
    do("close_hazard", world.users.security2, {"closing_note": "销号"})


def test_campaign_runs_each_unit_as_its_own_instance_through_every_stage(services, world, campaign_world, clock):
    campaigns, template_id, extra = campaign_world
    units = [world.orgs.college, world.orgs.security_unit, world.orgs.logistics]
    campaign = campaigns.create_campaign(world.users.security, "校园安全专项整治", template_id, units, STAGES)

    with services.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(ProcessInstance)) == 4  # the campaign and three units
        started = list(s.scalars(select(ProcessMessage).where(ProcessMessage.name == "unit_self_check_start")))
        assert [m.status for m in started] == ["started"] * 3
        assert len({m.target_instance_id for m in started}) == 3
        assert s.scalars(select(MessageSubscription.correlation).where(
            MessageSubscription.instance_id == campaign.instance_id)).all() == [
            '{"campaign":{"campaign_id":%d}}' % campaign.id]
    work = _one(services, "work_checklist", world.orgs.college)
    assert work.due_at is not None and work.due_at.date().isoformat() == "2026-11-15"
    with pytest.raises(ChecklistIncomplete, match="2 checklist item"):
        services.complete_task(work.id, world.users.staff, {})
    with pytest.raises(NotAllowed):
        campaigns.record_item_results(world.users.outsider, campaign.id, world.orgs.college, [])

    items = _items(services, template_id)
    # 机电工程学院 answers only the two fire items (the food item names 后勤管理处 alone) and finds one hazard.
    _self_check(services, campaigns, campaign.id, world.orgs.college, world.users.staff, world.users.head,
                items[:2], hazard_item=items[0])
    with services.uow() as uow:
        hazard = uow.session.scalars(select(Hazard).where(Hazard.campaign_id == campaign.id)).one()
        assert hazard.instance_id not in {campaign.instance_id}
        assert hazard.check_item == "消防设施设备配备管理情况"
    review = _one(services, "review_self_check", world.orgs.school)
    services.complete_task(review.id, world.users.security, {"decision": "return", "comment": "补充佐证"})
    with services.uow() as uow:
        sent_back = uow.session.scalars(select(CampaignUnit).where(CampaignUnit.org_id == world.orgs.college)).one()
        assert (sent_back.status, sent_back.sent_back, sent_back.signed_at) == ("sent_back", 1, None)
    services.complete_task(_one(services, "work_checklist", world.orgs.college).id, world.users.staff, {})
    services.complete_task(_one(services, "sign_self_check", world.orgs.college).id, world.users.head,
                           {"signer_name": "刘院长"})
    services.complete_task(_one(services, "review_self_check", world.orgs.school).id, world.users.security,
                           {"decision": "accept"})
    _self_check(services, campaigns, campaign.id, world.orgs.security_unit, extra["staff_bw"], extra["head_bw"],
                items[:2])
    services.complete_task(_one(services, "review_self_check", world.orgs.school).id, world.users.security,
                           {"decision": "accept"})
    assert _tasks(services, "review_returns") == []

    # 后勤管理处 misses the self-check deadline: the campaign's timer opens a chase task for the security office.
    clock.set(clock.now().replace(month=11, day=15, hour=10, minute=5))
    assert services.fire_due_timers().fired == 1
    chase = _one(services, "chase_missing_returns", world.orgs.school)
    services.complete_task(chase.id, world.users.security, {"action": "电话催报后勤管理处"})
    _self_check(services, campaigns, campaign.id, world.orgs.logistics, world.users.logistics_staff,
                extra["head_hq"], items)
    services.complete_task(_one(services, "review_self_check", world.orgs.school).id, world.users.security,
                           {"decision": "accept"})
    with services.uow() as uow:
        figures = coverage.campaign_coverage(uow.session, campaign.id)
        statuses = {cu.org_id: cu.status for cu in uow.session.scalars(select(CampaignUnit))}
    assert statuses == {u: "returned" for u in units}
    assert figures["items_required"] == 7 and figures["items_answered"] == 7 and figures["percent"] == 100.0
    assert figures["open_hazards"] == 1

    services.complete_task(_one(services, "review_returns").id, world.users.security, {"summary": "全部上报"})
    assert _tasks(services, "joint_inspection") == []  # the joint inspection opens on its start date, 11-16 (China time)
    clock.advance(days=2)
    assert services.fire_due_timers().fired == 1
    finding = campaigns.report_finding(extra["inspector"], campaign.id, world.orgs.logistics,
                                       {**HAZARD, "problem": "健康证过期", "category": "食品卫生",
                                        "location": "第一食堂", "source": "joint_inspection"}, item_id=items[2])
    with services.uow() as uow:
        missed = coverage.missed_for_unit(uow.session, world.orgs.logistics)
    assert [(m.hazard_id, m.level, m.person_id) for m in missed] == [(finding.id, "school",
                                                                      world.users.logistics_staff)]
    services.complete_task(_one(services, "joint_inspection").id, extra["inspector"], {"summary": "全校检查"})
    assert _tasks(services, "supervision_check") == []  # waiting while hazards close

    _close_hazard(services, world, hazard.id)
    assert _tasks(services, "supervision_check") == []  # the inspection's hazard is still open
    _close_hazard(services, world, finding.id)
    assert _tasks(services, "supervision_check") == []  # hazards cleared, but supervision opens on 12-16
    clock.set(datetime(2026, 12, 16, 0, 30, tzinfo=timezone.utc))  # 08:30 China time
    assert services.fire_due_timers().fired == 1
    supervision = _one(services, "supervision_check", world.orgs.bureau)
    services.complete_task(supervision.id, world.users.supervisor, {"report": "抽查合格"})
    services.complete_task(_one(services, "closing_summary", world.orgs.school).id, world.users.leader,
                           {"summary": "专项整治完成"})
    with services.uow() as uow:
        assert uow.session.get(Campaign, campaign.id).status == "closed"
        assert uow.session.get(ProcessInstance, campaign.instance_id).status == "completed"
        returns = uow.session.scalars(select(ProcessMessage.status).where(
            ProcessMessage.name == "self_check_returned")).all()
    assert returns == ["delivered"] * 3


def test_rectification_stage_ends_on_its_date_when_hazards_stay_open(services, world, campaign_world, clock):
    campaigns, template_id, extra = campaign_world
    campaign = campaigns.create_campaign(world.users.security, "专项整治", template_id, [world.orgs.security_unit],
                                         STAGES)
    items = _items(services, template_id)
    _self_check(services, campaigns, campaign.id, world.orgs.security_unit, extra["staff_bw"], extra["head_bw"],
                items[:2], hazard_item=items[1])
    services.complete_task(_one(services, "review_self_check", world.orgs.school).id, world.users.security,
                           {"decision": "accept"})
    services.complete_task(_one(services, "review_returns").id, world.users.security, {"summary": "ok"})
    assert _tasks(services, "joint_inspection") == []
    clock.set(datetime(2026, 11, 16, 0, 5, tzinfo=timezone.utc))  # 08:05 China time: the stage is open
    services.fire_due_timers()
    services.complete_task(_one(services, "joint_inspection").id, extra["inspector"], {"summary": "ok"})
    assert _tasks(services, "supervision_check") == []
    clock.set(clock.now() + timedelta(days=50))
    services.fire_due_timers()
    assert _one(services, "supervision_check", world.orgs.bureau)


def test_stages_open_on_their_start_dates_not_before(services, world, campaign_world, clock):
    campaigns, template_id, extra = campaign_world
    later = {**STAGES, "self_check": {"start": "2026-11-09", "end": "2026-11-15"}}
    campaigns.create_campaign(world.users.security, "下周开始的专项整治", template_id, [world.orgs.college], later)
    assert _tasks(services, "work_checklist") == []  # created on Monday 11-02; the self-check opens 11-09
    clock.set(datetime(2026, 11, 8, 15, 0, tzinfo=timezone.utc))  # 23:00 China time on 11-08: still closed
    assert services.fire_due_timers().fired == 0
    clock.set(datetime(2026, 11, 8, 16, 1, tzinfo=timezone.utc))  # 00:01 China time on 11-09
    assert services.fire_due_timers().fired == 1
    assert _one(services, "work_checklist", world.orgs.college).due_at.date().isoformat() == "2026-11-15"


def test_a_stage_that_starts_after_it_ends_is_refused_with_the_field_named(services, world, campaign_world):
    campaigns, template_id, extra = campaign_world
    bad = {**STAGES, "joint_inspection": {"start": "2026-11-21", "end": "2026-11-20"}, "report_dates": ["11/22"]}
    with pytest.raises(InvalidFormData) as caught:
        campaigns.create_campaign(world.users.security, "错误日期", template_id, [world.orgs.college], bad)
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"stages.joint_inspection.start", "stages.report_dates.0"}
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_a_hazard_the_security_office_records_for_a_unit_is_that_units_hazard(services, world, campaign_world):
    campaigns, template_id, extra = campaign_world
    campaign = campaigns.create_campaign(world.users.security, "代录", template_id, [world.orgs.college], STAGES)
    item = _items(services, template_id)[0]
    campaigns.record_item_results(world.users.security, campaign.id, world.orgs.college, [
        {"item_id": item, "result": "hazard", "location": "实训楼A102", "hazard": dict(HAZARD, checked_at="2026-11-02")}])
    with services.uow() as uow:
        hazard = uow.session.scalars(select(Hazard).where(Hazard.campaign_id == campaign.id)).one()
        assert (hazard.unit_id, hazard.unit_serial) == (world.orgs.college, 1)
