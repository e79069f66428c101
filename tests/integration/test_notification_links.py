"""Every in-app notification names what it is about (its task, else its hazard), so the bell can open it."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, select, text

from engine.infra.errors import NotFound
from engine.infra.schema import downgrade, upgrade
from engine.infra.timezone import CHINA
from engine.process import bell, delivery, escalation
from engine.process.delivery import subject_of
from engine.process.models import InAppNotification, OutboxMessage
from notifications.inapp import InAppNotifier

from .only_rectification import bpmn_dir  # noqa: F401

PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-09-24",
        "plan_contingency": "停用该车床"}


def china(y, m, d, hh=18, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


def _deliver(services):
    delivery.deliver_pending(services, {"inapp": InAppNotifier(delivery.inapp_store(services))})


def test_every_kind_of_task_message_in_the_bell_names_its_task(services, world, report_hazard, do, task_of, clock):
    clock.set(china(2026, 9, 22, 9))
    hazard = report_hazard()  # task_created for the security office
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-09-24",
        "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    rectify = task_of(hazard.id, "rectify")
    services.claim_task(rectify.id, world.users.staff)
    services.delegate_task(rectify.id, world.users.staff, world.users.staff2)  # task_delegated
    for when in (china(2026, 9, 23, 18, 1), china(2026, 9, 25, 9), china(2026, 9, 29, 18, 1)):  # remind, overdue, up
        clock.set(when)
        escalation.escalate_overdue(services)
    escalation.reassign_task(services, rectify.id, world.users.head, world.users.staff)  # task_reassigned
    escalation.take_over_task(services, rectify.id, world.users.security)  # task_taken_over (to staff)
    escalation.extend_deadline(services, rectify.id, world.users.security, "2026-10-30", "配件未到")
    _deliver(services)
    with services.uow() as uow:
        rows = list(uow.session.execute(select(InAppNotification, OutboxMessage.payload)
                                        .join(OutboxMessage, OutboxMessage.id == InAppNotification.outbox_id)))
    kinds = {note.kind for note, _ in rows}
    assert kinds >= {"task_created", "task_delegated", "task_reminder", "task_overdue", "task_escalated",
                     "task_reassigned", "task_taken_over", "deadline_extended"}
    for note, payload in rows:
        # Messages about a task open the task; others about a hazard (e.g. a rectification notice) its hazard.
        expected = ("task", payload["task_id"]) if "task_id" in payload else ("hazard", payload["hazard_id"])
        assert (note.subject_kind, note.subject_id) == expected, (note.kind, payload)
        assert note.link is None
    assert {note.subject_id for note, _ in rows if note.kind.startswith(("task_", "deadline_"))
            and note.kind != "task_created"} == {rectify.id}


def test_subjects_come_from_the_payload_most_specific_first():
    assert subject_of({"task_id": 7, "hazard_id": 3}) == ("task", 7)
    assert subject_of({"hazard_id": 3}) == ("hazard", 3)
    assert subject_of({"subject_kind": "campaign", "subject_id": 5, "task_id": 7}) == ("campaign", 5)
    assert subject_of({"items": [{"task_id": 7}]}) is None, "a digest is about many tasks: no single link"
    assert subject_of({"task_id": None, "hazard_id": "3"}) is None


def test_a_digest_in_the_bell_has_no_subject(services, world, clock):
    bell.set_preference(services, world.users.staff, "*", "inapp", "digest")
    with services.uow() as uow:
        uow.session.add(OutboxMessage(created_at=clock.now(), kind="task_reminder", recipient_id=world.users.staff,
                                      status="pending", next_attempt_at=clock.now(),
                                      payload={"task_id": 7, "hazard_id": 3, "name": "落实整改"}))
        uow.commit()
    _deliver(services)
    delivery.build_digests(services)
    _deliver(services)
    with services.uow() as uow:
        (note,) = bell.notifications(uow.session, world.users.staff)[0]
    assert note.kind == "digest" and (note.subject_kind, note.subject_id) == (None, None)


def test_migration_0010_gives_existing_bell_rows_the_subject_of_their_outbox_row(database_url, services, world, clock):
    downgrade(database_url, "0010")  # first off the merge revision that joins 0010 with its sibling branches
    downgrade(database_url, "0010@-1")
    engine = create_engine(database_url)
    payloads = {1: '{"task_id": 7, "hazard_id": 3}', 2: '{"hazard_id": 4}', 3: '{"items": []}'}
    try:
        with engine.begin() as conn:
            cast = "::jsonb" if conn.dialect.name == "postgresql" else ""
            for outbox_id, payload in payloads.items():
                conn.execute(text("INSERT INTO outbox (id, created_at, kind, channel, payload, status, attempts) "
                                  "VALUES (:id, :now, 'task_overdue', 'inapp', "
                                  f"CAST(:payload AS TEXT){cast}, 'sent', 1)"),
                             {"id": outbox_id, "now": clock.now(), "payload": payload})
                conn.execute(text("INSERT INTO inapp_notifications (outbox_id, user_id, kind, title, body, link, "
                                  "created_at) VALUES (:id, :user, 'task_overdue', 't', 'b', '/hazards/3', :now)"),
                             {"id": outbox_id, "user": world.users.staff, "now": clock.now()})
        upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT outbox_id, subject_kind, subject_id FROM inapp_notifications "
                                     "ORDER BY outbox_id")).all()
    finally:
        upgrade(database_url)  # whatever happened, leave the shared database at the newest schema
        engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "task", 7), (2, "hazard", 4), (3, None, None)]


def test_opening_marks_only_my_own_notification_read_and_says_what_it_is_about(services, world, report_hazard):
    report_hazard()
    _deliver(services)
    with services.uow() as uow:
        (note,) = bell.notifications(uow.session, world.users.security)[0]
    with pytest.raises(NotFound, match="does not exist"):
        bell.open_notification(services, world.users.staff, note.id)
    with services.uow() as uow:
        assert uow.session.get(InAppNotification, note.id).read_at is None
    opened = bell.open_notification(services, world.users.security, note.id)
    assert (opened.subject_kind, opened.subject_id, opened.link) == ("task", note.subject_id, None)
    with services.uow() as uow:
        assert uow.session.get(InAppNotification, note.id).read_at == services.clock.now()
