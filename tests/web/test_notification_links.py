"""Opening a notification: marked read, then its task (or its hazard when the task is closed or out of sight)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.infra.errors import WorkflowFailed
from engine.process import bell, delivery
from engine.process.models import HumanTask, InAppNotification, Incident, OutboxMessage
from notifications.inapp import InAppNotifier
from tests.admins import add_admin
from tests.incident_diagrams import APPROVE, ENTER, PRICE, diagram

from .ui_fixtures import app, login  # noqa: F401

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-20"}


@pytest.fixture
def note_for(services, clock):
    """Factory: put one bell row for a user straight into the table (subject and/or a stored link)."""

    def _note(user_id, subject=(None, None), link=None):
        with services.uow() as uow:
            s = uow.session
            outbox = OutboxMessage(created_at=clock.now(), kind="task_overdue", recipient_id=user_id, channel="inapp",
                                   payload={}, status="sent", next_attempt_at=None)
            s.add(outbox)
            s.flush()
            row = InAppNotification(outbox_id=outbox.id, user_id=user_id, kind="task_overdue", title="任务已逾期",
                                    body="…", link=link, subject_kind=subject[0], subject_id=subject[1],
                                    created_at=clock.now())
            s.add(row)
            uow.commit()
            return row.id

    return _note


def _deliver(services):
    delivery.deliver_pending(services, {"inapp": InAppNotifier(delivery.inapp_store(services))})


def _latest(services, user_id) -> InAppNotification:
    with services.uow() as uow:
        return bell.notifications(uow.session, user_id)[0][0]


def test_a_new_task_notification_opens_the_task_and_after_it_closes_the_hazard(
        login, services, world, report_hazard, do, task_of):
    hazard = report_hazard()
    register = task_of(hazard.id, "register_hazard")
    _deliver(services)
    note = _latest(services, world.users.security)
    client = login("security")
    page = client.get("/notifications").get_data(as_text=True)
    form = re.search(rf'<form[^>]*action="/notifications/{note.id}/open".*?</form>', page, re.S).group(0)
    assert f'data-testid="open-{note.id}"' in form and 'name="next"' not in form, "the server knows the target"
    response = client.post(f"/notifications/{note.id}/open")
    assert response.status_code == 303 and response.location.endswith(f"/tasks/{register.id}")
    assert _latest(services, world.users.security).read_at is not None
    do(hazard.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    again = client.post(f"/notifications/{note.id}/open")
    assert again.location.endswith(f"/hazards/{hazard.id}"), "a closed task opens its hazard"
    assert client.get(again.location).status_code == 200


def test_a_task_outside_my_scope_falls_back_to_its_hazard_and_then_to_the_list(
        login, services, world, report_hazard, task_of, note_for):
    hazard = report_hazard()  # the college's hazard: the logistics unit sees neither the task nor the hazard
    register = task_of(hazard.id, "register_hazard")
    client = login("logistics_staff")
    for subject in (("task", register.id), ("hazard", hazard.id), ("task", 999_999), ("campaign", 1)):
        note = note_for(world.users.logistics_staff, subject)
        response = client.post(f"/notifications/{note}/open")
        assert response.status_code == 303 and response.location.endswith("/notifications"), subject
    assert "该通知关联的内容已无法查看" in client.get("/notifications").get_data(as_text=True)
    with services.uow() as uow:
        assert bell.unread_count(uow.session, world.users.logistics_staff) == 0, "opened means read, seen or not"


def test_the_leader_opens_an_escalated_task_page_though_not_its_candidate(
        login, services, world, report_hazard, task_of, note_for):
    hazard = report_hazard()
    register = task_of(hazard.id, "register_hazard")
    note = note_for(world.users.leader, ("task", register.id))
    response = login("leader").post(f"/notifications/{note}/open")
    assert response.location.endswith(f"/tasks/{register.id}")


def test_older_rows_with_only_a_link_open_it_when_it_is_a_path_on_this_site(login, world, note_for):
    client = login("staff")
    inside = note_for(world.users.staff, link="/inbox")
    outside = note_for(world.users.staff, link="//evil.example/x")
    assert client.post(f"/notifications/{inside}/open").location.endswith("/inbox")
    assert client.post(f"/notifications/{outside}/open").location.endswith("/notifications")


def test_someone_elses_notification_answers_404_and_stays_unread(login, services, world, note_for):
    theirs = note_for(world.users.leader, ("hazard", 1))
    assert login("staff").post(f"/notifications/{theirs}/open").status_code == 404
    with services.uow() as uow:
        assert uow.session.get(InAppNotification, theirs).read_at is None


def test_an_incident_notification_opens_the_incidents_page_at_that_incident(login, services, world):
    services.deploy_definition(diagram("purchase", "采购申请", [ENTER, PRICE, APPROVE], ["enter", "approve"]),
                               "purchase.bpmn", world.users.designer)
    instance = services.start_process("purchase", world.users.designer, {})
    with services.uow() as uow:
        task = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
    with pytest.raises(WorkflowFailed):
        services.complete_task(task.id, world.users.security, {})
    _deliver(services)
    note = _latest(services, world.users.designer)
    with services.uow() as uow:
        incident = uow.session.scalars(select(Incident)).one()
    assert (note.kind, note.subject_kind, note.subject_id) == ("incident_opened", "incident", incident.id)

    client = login("designer")
    opened = client.post(f"/notifications/{note.id}/open")
    assert opened.status_code == 303 and opened.location.endswith(f"/incidents#incident-{incident.id}")
    page = client.get("/incidents").get_data(as_text=True)
    assert f'id="incident-{incident.id}"' in page

    # Resolved meanwhile: it opens the full list (全部) from that incident on.
    admin = add_admin(services, world)
    services.set_instance_variables(instance.id, admin, {"amount": 2})
    services.retry_incident(incident.id, admin)
    again = client.post(f"/notifications/{note.id}/open")
    assert again.location.endswith(f"/incidents?status=all&before={incident.id + 1}#incident-{incident.id}")
