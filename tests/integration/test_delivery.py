"""Outbox delivery: fan-out by preference, in-app bell, retries with backoff, 'failed' after N, never twice."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.org.models import User
from engine.process import bell, delivery
from engine.process.models import InAppNotification, OutboxMessage, WebhookEndpoint
from notifications.fake import FakeNotifier
from notifications.inapp import InAppNotifier

from .only_rectification import bpmn_dir  # noqa: F401


@pytest.fixture
def event(services, world, clock):
    """Factory: write one outbox event the way a service does (in its own transaction)."""

    def _event(kind="task_overdue", **recipient):
        recipient = recipient or {"recipient_role": "department_staff", "recipient_org_id": world.orgs.college}
        with services.uow() as uow:
            row = OutboxMessage(created_at=clock.now(), kind=kind, status="pending", next_attempt_at=clock.now(),
                                payload={"task_id": 7, "name": "落实整改", "hazard_id": 3,
                                         "due_at": "2026-11-06T10:00:00+00:00"}, **recipient)
            uow.session.add(row)
            uow.commit()
            return row.id

    return _event


@pytest.fixture
def with_emails(services, world):
    with services.uow() as uow:
        for name in ("staff", "staff2", "head"):
            uow.session.get(User, getattr(world.users, name)).email = f"{name}@school.example"
        uow.commit()


def _rows(services, **where):
    with services.uow() as uow:
        stmt = select(OutboxMessage).where(OutboxMessage.channel.is_not(None))
        for key, value in where.items():
            stmt = stmt.where(getattr(OutboxMessage, key) == value)
        return list(uow.session.scalars(stmt.order_by(OutboxMessage.id)))


def test_an_event_for_a_group_reaches_every_member_on_each_channel_once(services, world, event, with_emails):
    event()
    inapp, email = FakeNotifier("inapp"), FakeNotifier("email")
    run = delivery.deliver_pending(services, {"inapp": inapp, "email": email})
    assert run.fanned_out == 1 and run.sent == 4
    assert sorted(m.recipient_id for m in inapp.sent) == sorted([world.users.staff, world.users.staff2])
    assert {m.email for m in email.sent} == {"staff@school.example", "staff2@school.example"}
    again = delivery.deliver_pending(services, {"inapp": inapp, "email": email})
    assert (again.fanned_out, again.sent) == (0, 0) and len(inapp.sent) == 2, "nothing is sent twice"


def test_users_choose_channels_and_a_daily_digest_for_reminders(services, world, event, with_emails):
    bell.set_preference(services, world.users.staff, "*", "email", "off")
    bell.set_preference(services, world.users.staff2, "task_reminder", "email", "digest")
    event("task_reminder")
    event("task_reminder")
    email = FakeNotifier("email")
    delivery.deliver_pending(services, {"email": email})
    assert email.sent == [], "staff turned e-mail off; staff2 wants reminders in the digest"
    assert delivery.build_digests(services) == 1
    delivery.deliver_pending(services, {"email": email})
    assert [(m.kind, m.recipient_id, len(m.items)) for m in email.sent] == [("digest", world.users.staff2, 2)]
    assert delivery.build_digests(services) == 0


def test_in_app_bell_counts_unread_and_marks_read(services, world, event):
    event()
    delivery.deliver_pending(services, {"inapp": InAppNotifier(delivery.inapp_store(services))})
    with services.uow() as uow:
        assert bell.unread_count(uow.session, world.users.staff) == 1
        items, total = bell.notifications(uow.session, world.users.staff)
    assert total == 1 and items[0].title == "任务已逾期：落实整改"
    assert (items[0].subject_kind, items[0].subject_id, items[0].link) == ("task", 7, None), "the web builds the URL"
    assert bell.mark_read(services, world.users.staff) == 1
    with services.uow() as uow:
        assert bell.unread_count(uow.session, world.users.staff) == 0


def test_in_app_store_keeps_one_entry_per_message_even_if_called_twice(services, world, event):
    event(recipient_id=world.users.head)
    notifier = InAppNotifier(delivery.inapp_store(services))
    delivery.deliver_pending(services, {"inapp": notifier})
    message = delivery._message  # noqa: SLF001 - build the same message again as a retry would
    with services.uow() as uow:
        row = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "inapp")).one()
        retry = message(uow.session, row)
    notifier.send(retry)
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(InAppNotification)) == 1


def test_failures_retry_with_backoff_then_end_failed_with_the_error(services, world, event, clock):
    event(recipient_id=world.users.head)
    broken = FakeNotifier("inapp")
    broken.fail_with = ConnectionRefusedError("smtp down")
    delays = []
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        run = delivery.deliver_pending(services, {"inapp": broken})
        row = _rows(services)[0]
        assert row.attempts == attempt
        if attempt < delivery.MAX_ATTEMPTS:
            assert (run.retried, row.status) == (1, "pending")
            delays.append(row.next_attempt_at - clock.now())
            assert delivery.deliver_pending(services, {"inapp": broken}).retried == 0, "not before the backoff"
            clock.set(row.next_attempt_at)
    assert delays == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert (run.failed, row.status, row.last_error) == (1, "failed", "ConnectionRefusedError: smtp down")
    with services.uow() as uow:
        assert [m.id for m in delivery.failed_messages(uow.session)] == [row.id]
    broken.fail_with = None
    delivery.retry_failed(services, row.id)
    assert delivery.deliver_pending(services, {"inapp": broken}).sent == 1
    assert len(broken.sent) == 1


def test_a_send_interrupted_by_a_crash_is_not_repeated_blindly(services, world, event, clock):
    event(recipient_id=world.users.head)
    notifier = FakeNotifier("inapp")
    delivery.fan_out(services, {"inapp"})
    claimed = delivery._claim(services, {"inapp"}, 10, clock.now())  # noqa: SLF001 - the process dies after this
    assert len(claimed) == 1
    assert delivery.deliver_pending(services, {"inapp": notifier}).sent == 0, "still leased"
    clock.advance(delivery.SEND_LEASE + timedelta(seconds=1))
    delivery.deliver_pending(services, {"inapp": notifier})
    row = _rows(services)[0]
    assert notifier.sent == [] and row.status == "failed" and "outcome unknown" in row.last_error


def test_nothing_is_delivered_for_a_rolled_back_transaction(services, world, clock):
    with services.uow() as uow:
        uow.session.add(OutboxMessage(created_at=clock.now(), kind="task_overdue", recipient_id=world.users.head,
                                      status="pending", next_attempt_at=clock.now(), payload={}))
        uow.session.flush()  # written, then the unit of work ends without commit()
    notifier = FakeNotifier("inapp")
    assert delivery.deliver_pending(services, {"inapp": notifier}).fanned_out == 0
    assert notifier.sent == []


def test_webhook_endpoints_receive_events_of_their_organisation(services, world, event):
    with services.uow() as uow:
        uow.session.add(WebhookEndpoint(org_id=world.orgs.college, name="学院群", url="http://127.0.0.1:9/hook",
                                        style="wecom", event_kinds=["task_overdue"]))
        uow.session.add(WebhookEndpoint(org_id=world.orgs.logistics, name="后勤群", url="http://127.0.0.1:9/x"))
        uow.commit()
    event()
    event("task_created")
    robot = FakeNotifier("webhook")
    delivery.deliver_pending(services, {"webhook": robot})
    assert [(m.kind, m.webhook_url, m.webhook_style) for m in robot.sent] == [
        ("task_overdue", "http://127.0.0.1:9/hook", "wecom")]


def test_the_bell_entries_about_a_task_are_read_once_the_task_is_done(services, world, report_hazard, task_of, do,
                                                                       open_tasks):
    hazard = report_hazard()
    task = task_of(hazard.id, "register_hazard")
    notifier = InAppNotifier(delivery.inapp_store(services))
    delivery.deliver_pending(services, {"inapp": notifier})

    def unread_about(user, task_id):
        with services.uow() as uow:
            return uow.session.scalar(select(func.count()).select_from(InAppNotification).where(
                InAppNotification.user_id == user, InAppNotification.subject_kind == "task",
                InAppNotification.subject_id == task_id, InAppNotification.read_at.is_(None)))

    assert unread_about(world.users.security, task.id) == 1 and unread_about(world.users.security2, task.id) == 1
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09",
        "responsible_unit_id": world.orgs.college})
    assert unread_about(world.users.security, task.id) == 0, "the one who did it"
    assert unread_about(world.users.security2, task.id) == 0, "and the rest of the group: nothing is left to do"
    delivery.deliver_pending(services, {"inapp": notifier})
    (following,) = open_tasks(hazard.id)
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(InAppNotification).where(
            InAppNotification.subject_id == following.id, InAppNotification.read_at.is_(None))) >= 1, \
            "the next task's entries stay unread"
