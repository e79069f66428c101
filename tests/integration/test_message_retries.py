"""Deferred BPMN messages: a failed delivery retries with backoff, ends `failed` at the limit, is delivered once."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns
from engine.process import messaging
from engine.process.messaging import MAX_ATTEMPTS, retry_delay, retry_failed_message
from engine.process.models import HumanTask, ProcessMessage
from web.cli.main import main

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,学校\n".encode()
STAGES = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                     ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}


@pytest.fixture
def deferred():
    """Deferred delivery for one test: the unit commits, the campaign takes the message in its own transaction."""
    messaging.delivery_mode = "deferred"
    yield
    messaging.delivery_mode = "inline"


@pytest.fixture
def failing_campaign(services, monkeypatch):
    """While `failures["left"]` > 0, loading the campaign's instance fails (a target that cannot advance)."""
    failures = {"left": 0}
    load = services.runtime.load

    def flaky_load(definition, state_json):
        if definition.key == "campaign" and failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("campaign instance unavailable")
        return load(definition, state_json)

    monkeypatch.setattr(services.runtime, "load", flaky_load)
    return failures


def _return_self_check(services, world):
    """Start a one-unit campaign and take the unit's self-check to the point where it reports back."""
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "t", services.clock.now())
        uow.commit()
    campaigns = Campaigns(services)
    campaign = campaigns.create_campaign(world.users.security, "c", template.id, [world.orgs.college], STAGES)
    campaigns.record_item_results(world.users.staff, campaign.id, world.orgs.college,
                                  [{"item_id": template.items[0].id, "result": "checked"}])
    for bpmn_id, org, user, data in (("work_checklist", world.orgs.college, world.users.staff, {}),
                                     ("sign_self_check", world.orgs.college, world.users.head, {"signer_name": "x"}),
                                     ("review_self_check", world.orgs.school, world.users.security,
                                      {"decision": "accept"})):
        with services.uow() as uow:
            task = uow.session.scalars(select(HumanTask).where(
                HumanTask.bpmn_id == bpmn_id, HumanTask.candidate_org_id == org, HumanTask.state == "ready")).one()
        services.complete_task(task.id, user, data)
    return campaign


def _message(services) -> ProcessMessage:
    with services.uow() as uow:
        return uow.session.scalars(select(ProcessMessage).where(ProcessMessage.name == "self_check_returned")).one()


def _campaign_tasks(services, campaign) -> list[str]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(HumanTask.bpmn_id).where(
            HumanTask.instance_id == campaign.instance_id, HumanTask.state == "ready")))


def _sweep(services) -> int:
    return services.deliver_messages()


def test_a_failed_delivery_waits_its_backoff_then_succeeds(services, world, clock, deferred, failing_campaign):
    failing_campaign["left"] = 2
    campaign = _return_self_check(services, world)  # the unit's return is committed; delivery fails after it
    first = _message(services)
    assert (first.status, first.attempts, first.delivered_at) == ("pending", 1, None)
    assert first.next_attempt_at == clock.now() + retry_delay(1) == clock.now() + timedelta(minutes=1)
    assert "RuntimeError: campaign instance unavailable" in first.last_error
    assert _campaign_tasks(services, campaign) == []

    assert _sweep(services) == 0 and _message(services).attempts == 1  # not due yet: not tried
    clock.advance(minutes=1)
    assert _sweep(services) == 0
    second = _message(services)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.next_attempt_at == clock.now() + timedelta(minutes=2)

    clock.advance(minutes=2)
    assert _sweep(services) == 1
    delivered = _message(services)
    assert (delivered.status, delivered.attempts, delivered.delivered_at) == ("delivered", 3, clock.now())
    assert delivered.target_instance_id == campaign.instance_id
    assert _campaign_tasks(services, campaign) == ["review_returns"]
    clock.advance(hours=1)
    assert _sweep(services) == 0, "a delivered message is never delivered again"
    assert _campaign_tasks(services, campaign) == ["review_returns"]


def test_delivery_gives_up_at_the_limit_and_an_operator_sees_and_retries_it(
        services, world, clock, deferred, failing_campaign, database_url):
    failing_campaign["left"] = 10_000
    campaign = _return_self_check(services, world)
    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.advance(hours=1)
        _sweep(services)
        assert _message(services).attempts == attempt
    failed = _message(services)
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)
    clock.advance(days=1)
    assert _sweep(services) == 0 and _message(services).attempts == MAX_ATTEMPTS  # failed stays failed

    listing = CliRunner().invoke(main, ["--database-url", database_url, "messages", "list", "--status", "failed"],
                                 catch_exceptions=False)
    assert listing.exit_code == 0, listing.output
    assert f"{failed.id:>6}  self_check_returned" in listing.output
    assert "error: RuntimeError: campaign instance unavailable" in listing.output

    failing_campaign["left"] = 0
    assert retry_failed_message(services.session_factory, failed.id, clock.now())
    assert not retry_failed_message(services.session_factory, failed.id, clock.now()), "only a failed one"
    assert _sweep(services) == 1
    assert _message(services).status == "delivered"
    assert _campaign_tasks(services, campaign) == ["review_returns"]


def test_two_sweeps_at_once_deliver_a_message_once(services, world, clock, deferred, failing_campaign):
    failing_campaign["left"] = 1
    campaign = _return_self_check(services, world)
    failing_campaign["left"] = 0
    clock.advance(minutes=5)
    start, counts, errors = threading.Barrier(2), [], []

    def sweep():
        start.wait()
        try:
            counts.append(_sweep(services))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(counts) == [0, 1]
    message = _message(services)
    assert (message.status, message.attempts) == ("delivered", 2)
    assert _campaign_tasks(services, campaign) == ["review_returns"]
