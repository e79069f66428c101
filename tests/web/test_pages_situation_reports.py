"""The campaign's own task pages (review of returns, closing summary) show the units' situation reports."""
from __future__ import annotations

from sqlalchemy import select

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask

from .ui_fixtures import app, login  # noqa: F401

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,学校\n".encode()
STAGES = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                     ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}


def _ready(services, bpmn_id, org_id):
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(
            HumanTask.bpmn_id == bpmn_id, HumanTask.candidate_org_id == org_id, HumanTask.state == "ready")).one()


def test_campaign_task_page_shows_each_units_report_or_that_it_is_missing(services, world, login):
    with services.uow() as uow:
        s = uow.session
        logistics = s.get(OrgNode, world.orgs.logistics)
        head_hq = accounts.add_user(s, "head_hq", "周处长", "pw", logistics, services.clock.now(),
                                    roles=[("department_head", logistics)]).id
        template = checklists.import_checklist(s, CSV, "t.csv", "t", services.clock.now())
        uow.commit()
    campaigns = Campaigns(services)
    campaign = campaigns.create_campaign(world.users.security, "专项整治", template.id,
                                         [world.orgs.college, world.orgs.logistics], STAGES)
    services.complete_task(_ready(services, "situation_report", world.orgs.college).id, world.users.head,
                           {"situation_report": "实训楼消防通道畅通，配电箱老化待更换"})
    for unit, staff, head in ((world.orgs.college, world.users.staff, world.users.head),
                              (world.orgs.logistics, world.users.logistics_staff, head_hq)):
        campaigns.record_item_results(staff, campaign.id, unit, [{"item_id": template.items[0].id, "result": "na"}])
        services.complete_task(_ready(services, "work_checklist", unit).id, staff, {})
        services.complete_task(_ready(services, "sign_self_check", unit).id, head, {"signer_name": "负责人"})
        services.complete_task(_ready(services, "review_self_check", world.orgs.school).id, world.users.security,
                               {"decision": "accept"})
    review = _ready(services, "review_returns", world.orgs.school)
    assert review.instance_id == campaign.instance_id

    page = login("security").get(f"/tasks/{review.id}").get_data(as_text=True)
    assert 'data-testid="situation-reports"' in page and "1 / 2" in page
    assert "实训楼消防通道畅通，配电箱老化待更换" in page and "未提交" in page
    head_page = login("head").get(f"/tasks/{_ready(services, 'situation_report', world.orgs.logistics).id}")
    assert head_page.status_code == 404  # another unit's report task stays hidden
