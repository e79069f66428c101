"""安全形势分析报告: each unit head writes one beside the self-check; the campaign collects them; returns never wait."""
from __future__ import annotations

from datetime import datetime, time

import pytest
from sqlalchemy import select

from engine.campaigns import checklists
from engine.campaigns import situation_reports as reports
from engine.campaigns.models import CampaignUnit
from engine.campaigns.service import Campaigns
from engine.infra.errors import InvalidFormData
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.messaging import send_message
from engine.process.models import HumanTask, ProcessInstance, ProcessMessage

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,学校\n".encode()
STAGES = {"self_check": {"end": "2026-11-15"}, "joint_inspection": {"end": "2026-11-20"},
          "rectification": {"end": "2026-12-15"}, "supervision": {"end": "2026-12-30"},
          "report_dates": ["2026-11-22", "2026-12-20"]}


@pytest.fixture
def campaign(services, world):
    """A campaign over 机电工程学院 and 后勤管理处 (with a head); returns (campaign, template, logistics head id)."""
    with services.uow() as uow:
        s = uow.session
        logistics = s.get(OrgNode, world.orgs.logistics)
        head_hq = accounts.add_user(s, "head_hq", "周处长", "pw", logistics, services.clock.now(),
                                    roles=[("department_head", logistics)]).id
        template = checklists.import_checklist(s, CSV, "t.csv", "t", services.clock.now())
        uow.commit()
    created = Campaigns(services).create_campaign(world.users.security, "专项整治", template.id,
                                                  [world.orgs.college, world.orgs.logistics], STAGES)
    return created, template, head_hq


def _task(services, bpmn_id, org_id, state="ready"):
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(
            HumanTask.bpmn_id == bpmn_id, HumanTask.candidate_org_id == org_id, HumanTask.state == state)).one()


def _china_evening(day: str) -> datetime:
    return datetime.combine(datetime.fromisoformat(day).date(), time(18, 0), CHINA)


def test_each_unit_head_gets_the_report_task_due_by_the_campaigns_report_date(services, world, campaign):
    created, _, _ = campaign
    with services.uow() as uow:
        starts = {m.payload["unit_id"]: m.payload for m in uow.session.scalars(
            select(ProcessMessage).where(ProcessMessage.name == "unit_self_check_start"))}
    for unit in (world.orgs.college, world.orgs.logistics):
        task = _task(services, "situation_report", unit)
        assert (task.candidate_role, task.lane, task.stage) == ("department_head", "department_head", "summary")
        # situation_report_due from the campaign's start message; the self-check's end when it is not carried.
        expected = starts[unit].get("situation_report_due") or starts[unit]["self_check_end"]
        assert task.due_at == _china_evening(expected)


def test_the_due_date_defaults_to_the_self_check_end_when_the_start_message_lacks_it(services, world, campaign):
    created, _, _ = campaign
    with services.uow() as uow:
        s = uow.session
        s.add(CampaignUnit(campaign_id=created.id, org_id=world.orgs.security_unit))
        projector = services.projector(s, services.clock.now(), None)
        payload = {"campaign_id": created.id, "unit_id": world.orgs.security_unit, "school_id": world.orgs.school,
                   "bureau_id": world.orgs.bureau, "self_check_end": "2026-11-15"}
        message = send_message(projector, "unit_self_check_start", {"campaign": {"campaign_id": created.id}}, payload)
        uow.commit()
    assert message.status == "started"
    assert _task(services, "situation_report", world.orgs.security_unit).due_at == _china_evening("2026-11-15")


def test_the_self_check_returns_without_waiting_and_the_reports_are_collected(services, world, campaign):
    created, template, _ = campaign
    Campaigns(services).record_item_results(world.users.staff, created.id, world.orgs.college,
                                            [{"item_id": template.items[0].id, "result": "checked"}])
    services.complete_task(_task(services, "work_checklist", world.orgs.college).id, world.users.staff, {})
    services.complete_task(_task(services, "sign_self_check", world.orgs.college).id, world.users.head,
                           {"signer_name": "刘院长"})
    services.complete_task(_task(services, "review_self_check", world.orgs.school).id, world.users.security,
                           {"decision": "accept"})
    with services.uow() as uow:
        s = uow.session
        returned = s.scalars(select(ProcessMessage.status).where(ProcessMessage.name == "self_check_returned")).all()
        unit = s.scalars(select(CampaignUnit).where(CampaignUnit.org_id == world.orgs.college)).one()
        running = s.get(ProcessInstance, unit.instance_id).status
    assert returned == ["delivered"] and unit.status == "returned"
    assert running == "running"  # only the report is still open in the unit's instance

    report = _task(services, "situation_report", world.orgs.college)
    with pytest.raises(InvalidFormData):
        services.complete_task(report.id, world.users.head, {"situation_report": ""})
    services.complete_task(report.id, world.users.head,
                           {"situation_report": "本学院实训室设备老化，消防通道基本畅通。\n下一步：更换老化线路。"})
    with services.uow() as uow:
        s = uow.session
        unit = s.scalars(select(CampaignUnit).where(CampaignUnit.org_id == world.orgs.college)).one()
        assert s.get(ProcessInstance, unit.instance_id).status == "completed"
        collected = reports.collected_reports(s, created.id)
        hazard_task_reports = reports.reports_for_task(s, HumanTask(instance_id=created.instance_id, hazard_id=1))
    assert [(r.unit_name, r.by_name, r.at) for r in collected] == [
        ("机电工程学院", "head", services.clock.now()), ("后勤管理处", None, None)]
    assert collected[0].text.startswith("本学院实训室设备老化") and collected[1].text is None
    assert hazard_task_reports == []  # a hazard's task never shows a campaign's reports
