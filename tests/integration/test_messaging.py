"""Messages between process instances: start by message, delivery by correlation, deferred delivery, audit rows."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns
from engine.process import messaging
from engine.process.models import (
    HumanTask,
    MessageSubscription,
    ProcessInstance,
    ProcessMessage,
)

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,学校\n".encode()
STAGES = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                     ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}


@pytest.fixture
def deferred():
    """Switch message delivery to the deferred mode for one test."""
    messaging.delivery_mode = "deferred"
    yield
    messaging.delivery_mode = "inline"


def _campaign(services, world, units):
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "t", services.clock.now())
        uow.commit()
    campaigns = Campaigns(services)
    return campaigns, campaigns.create_campaign(world.users.security, "c", template.id, units, STAGES), template


def _return(services, world, campaigns, campaign, template, unit, staff, head):
    campaigns.record_item_results(staff, campaign.id, unit, [{"item_id": template.items[0].id, "result": "na"}])
    for bpmn_id, org, user, data in (("work_checklist", unit, staff, {}),
                                     ("sign_self_check", unit, head, {"signer_name": "x"}),
                                     ("review_self_check", world.orgs.school, world.users.security,
                                      {"decision": "accept"})):
        with services.uow() as uow:
            task = uow.session.scalars(select(HumanTask).where(
                HumanTask.bpmn_id == bpmn_id, HumanTask.candidate_org_id == org, HumanTask.state == "ready")).one()
        services.complete_task(task.id, user, data)


def test_deferred_delivery_reaches_the_campaign_after_the_units_commit(services, world, deferred):
    campaigns, campaign, template = _campaign(services, world, [world.orgs.college])
    _return(services, world, campaigns, campaign, template, world.orgs.college, world.users.staff, world.users.head)
    with services.uow() as uow:
        message = uow.session.scalars(select(ProcessMessage).where(ProcessMessage.name == "self_check_returned")).one()
        assert (message.status, message.target_instance_id, message.attempts) == (
            "delivered", campaign.instance_id, 1)
        ready = uow.session.scalars(select(HumanTask.bpmn_id).where(
            HumanTask.instance_id == campaign.instance_id, HumanTask.state == "ready")).all()
    assert ready == ["review_returns"]


def test_a_message_nobody_waits_for_is_kept_as_unmatched(services, world):
    campaigns, campaign, _ = _campaign(services, world, [world.orgs.college])
    with services.uow() as uow:
        s = uow.session
        projector = services.projector(s, services.clock.now(), None)
        messaging.send_message(projector, "self_check_returned", {"campaign": {"campaign_id": campaign.id + 99}},
                               {"campaign_id": campaign.id + 99})
        uow.commit()
    with services.uow() as uow:
        statuses = uow.session.scalars(select(ProcessMessage.status).where(
            ProcessMessage.correlation == '{"campaign":{"campaign_id":%d}}' % (campaign.id + 99))).all()
    assert statuses == ["unmatched"]


def test_fan_out_children_leave_the_campaign_tree(services, world):
    _, campaign, _ = _campaign(services, world, [world.orgs.college, world.orgs.logistics, world.orgs.security_unit])
    with services.uow() as uow:
        instance = uow.session.get(ProcessInstance, campaign.instance_id)
        workflow = services.runtime.load(instance.definition, instance.state_json)
        subscriptions = uow.session.scalars(select(MessageSubscription.name).where(
            MessageSubscription.instance_id == instance.id)).all()
    assert not [t for t in workflow.tasks.values() if t.task_spec.name == "start_self_checks [child]"]
    assert subscriptions == ["self_check_returned"]


def test_concurrent_returns_reach_the_campaign_without_deadlock(services, world, database_url):
    """Units returning at once all lock the campaign; none may hold a reference to it before its lock."""
    import threading

    from engine.org import accounts
    from engine.org.models import OrgNode

    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        units = []
        for n in range(6):
            unit = accounts.add_org(s, "unit", f"单位{n}", f"u{n}", school)
            user = accounts.add_user(s, f"u{n}", f"u{n}", "pw", unit, services.clock.now(),
                                     roles=[("department_staff", unit), ("department_head", unit)])
            units.append((unit.id, user.id))
        uow.commit()
    campaigns, campaign, template = _campaign(services, world, [u for u, _ in units])
    reviews = []
    for unit_id, user_id in units:
        campaigns.record_item_results(user_id, campaign.id, unit_id, [{"item_id": template.items[0].id,
                                                                        "result": "checked"}])
        for bpmn_id, data in (("work_checklist", {}), ("sign_self_check", {"signer_name": "x"})):
            with services.uow() as uow:
                task = uow.session.scalars(select(HumanTask).where(
                    HumanTask.bpmn_id == bpmn_id, HumanTask.candidate_org_id == unit_id,
                    HumanTask.state == "ready")).one()
            services.complete_task(task.id, user_id, data)
    with services.uow() as uow:
        reviews = uow.session.scalars(select(HumanTask.id).where(HumanTask.bpmn_id == "review_self_check",
                                                                 HumanTask.state == "ready")).all()
    start, errors = threading.Barrier(len(reviews)), []

    def review(task_id):
        start.wait()
        try:
            services.complete_task(task_id, world.users.security, {"decision": "accept"})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=review, args=(task_id,)) for task_id in reviews]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with services.uow() as uow:
        delivered = uow.session.scalars(select(ProcessMessage.status).where(
            ProcessMessage.name == "self_check_returned")).all()
        ready = uow.session.scalars(select(HumanTask.bpmn_id).where(
            HumanTask.instance_id == campaign.instance_id, HumanTask.state == "ready")).all()
    assert delivered == ["delivered"] * 6 and ready == ["review_returns"]
