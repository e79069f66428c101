"""Outbox delivery asked to stop releases what it claimed; administrators list and retry failed rows in their scope."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from engine.infra.errors import NotAllowed, NotFound
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.process import delivery
from engine.process.models import OutboxMessage
from notifications.fake import FakeNotifier

from .only_rectification import bpmn_dir  # noqa: F401


def _row(services, clock, status="pending", **recipient) -> int:
    with services.uow() as uow:
        row = OutboxMessage(created_at=clock.now(), kind="task_overdue", channel="inapp", status=status, attempts=0,
                            next_attempt_at=clock.now(), last_error="SMTPRecipientsRefused" if status == "failed"
                            else None, payload={"task_id": 7, "name": "落实整改"}, **recipient)
        uow.session.add(row)
        uow.commit()
        return row.id


def _get(services, row_id) -> OutboxMessage:
    with services.uow() as uow:
        return uow.session.get(OutboxMessage, row_id)


class StopAfterFirst(FakeNotifier):
    """Sends one message, then asks the delivery to stop (as the scheduler's SIGTERM handler does)."""

    def __init__(self, stop: threading.Event):
        super().__init__("inapp")
        self.stop = stop

    def send(self, message):
        super().send(message)
        self.stop.set()


def test_a_stopped_delivery_finishes_the_send_in_flight_and_releases_the_rest(services, world, clock):
    ids = [_row(services, clock, recipient_id=world.users.head) for _ in range(5)]
    stop = threading.Event()
    notifier = StopAfterFirst(stop)
    run = delivery.deliver_pending(services, {"inapp": notifier}, stop=stop)
    assert (run.sent, run.released, run.failed, run.stopped) == (1, 4, 0, True)
    assert [m.id for m in notifier.sent] == ids[:1]
    rows = [_get(services, i) for i in ids]
    assert rows[0].status == "sent"
    assert [(r.status, r.attempts, r.last_error) for r in rows[1:]] == [("pending", 0, None)] * 4
    assert delivery.deliver_pending(services, {"inapp": notifier}, stop=stop).stopped, "no new rows once stopped"
    assert _get(services, ids[1]).status == "pending"

    again = FakeNotifier("inapp")
    assert delivery.deliver_pending(services, {"inapp": again}).sent == 4
    assert sorted(m.id for m in notifier.sent + again.sent) == ids, "each exactly once"


@pytest.fixture
def admins(services, world):
    """An administrator of the school and one of the other school."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        school, other = s.get(OrgNode, world.orgs.school), s.get(OrgNode, world.orgs.other_school)
        ids = (accounts.add_user(s, "admin1", "管理员", "pw-admin1", school, now, roles=[("admin", school)]).id,
               accounts.add_user(s, "admin2", "另一管理员", "pw-admin2", other, now, roles=[("admin", other)]).id)
        uow.commit()
    return ids


def test_administrators_see_and_retry_the_failed_rows_of_their_organisations(services, world, clock, admins):
    mine = _row(services, clock, "failed", recipient_id=world.users.staff)
    group = _row(services, clock, "failed", recipient_role="department_staff", recipient_org_id=world.orgs.college)
    foreign = _row(services, clock, "failed", recipient_id=world.users.outsider)
    _row(services, clock, "pending", recipient_id=world.users.staff)
    with services.uow() as uow:
        s = uow.session
        admin1 = s.get(User, admins[0])
        assert [r.id for r in delivery.list_outbox(s, "failed", user=admin1)] == [group, mine]
        assert [r.id for r in delivery.list_outbox(s, "failed", user=s.get(User, admins[1]))] == [foreign]
        with pytest.raises(NotAllowed):
            delivery.list_outbox(s, "failed", user=s.get(User, world.users.designer))
        assert [r.id for r in delivery.list_outbox(s, "failed")] == [foreign, group, mine], "the operator: all"
    with pytest.raises(NotFound):
        delivery.retry_failed(services, foreign, admins[0])
    with pytest.raises(NotAllowed):
        delivery.retry_failed(services, mine, world.users.designer)
    assert _get(services, foreign).status == "failed"

    assert delivery.retry_failed(services, mine, admins[0])
    row = _get(services, mine)
    assert (row.status, row.attempts) == ("pending", 0)
    assert not delivery.retry_failed(services, mine, admins[0]), "only a failed row"
    assert delivery.retry_all_failed(services) == 2
    assert {_get(services, i).status for i in (group, foreign)} == {"pending"}
    assert delivery.deliver_pending(services, {"inapp": FakeNotifier("inapp")}).sent >= 3
