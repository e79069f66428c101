"""The bell, the notifications page, the "escalated to me" page with its actions, and notification preferences."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import event

from engine.infra.config import Settings
from engine.infra.timezone import CHINA
from engine.process import bell, delivery, escalation
from engine.process.models import HumanTask
from engine.rectification.attachments import EvidenceStore
from notifications.inapp import InAppNotifier
from web.app import create_app

from .ui_fixtures import app, login  # noqa: F401

PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-09-24",
        "plan_contingency": "停用该车床"}


def china(y, m, d, hh=18, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


@pytest.fixture
def rectify_task(services, world, report_hazard, do, task_of, clock):
    """A college rectify task due Thursday 2026-09-24 18:00 (China time)."""
    clock.set(china(2026, 9, 22, 9))
    hazard = report_hazard(problem="配电柜防护罩缺失")
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-09-24",
        "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    return task_of(hazard.id, "rectify")


def _climb_to_leader(services, clock):
    """Move the clock past each rung up to the school leadership (中秋 and 国庆 are skipped) and sweep each time."""
    for when in (china(2026, 9, 24), china(2026, 9, 29), china(2026, 10, 8)):
        clock.set(when.replace(minute=1))
        escalation.escalate_overdue(services)


def _deliver(services):
    delivery.deliver_pending(services, {"inapp": InAppNotifier(delivery.inapp_store(services))})


def _bell(html: str) -> int:
    match = re.search(r'data-testid="bell-count">(\d+)<', html)
    return int(match.group(1)) if match else 0


def test_bell_shows_the_unread_count_and_drops_to_zero_after_marking_all_read(
        login, services, world, rectify_task, clock):
    _climb_to_leader(services, clock)
    _deliver(services)
    with services.uow() as uow:
        expected = bell.unread_count(uow.session, world.users.leader)
    assert expected >= 1
    client = login("leader")
    assert _bell(client.get("/inbox").get_data(as_text=True)) == expected
    response = client.post("/notifications/read")
    assert response.status_code == 303
    page = client.get("/notifications").get_data(as_text=True)
    assert _bell(page) == 0 and "bell-count" not in page
    client.post("/language", data={"lang": "en"})
    assert "Mark all as read" in client.get("/notifications").get_data(as_text=True)


def test_the_unread_count_is_queried_once_per_page_whatever_the_rows(login, services, rectify_task, clock):
    _climb_to_leader(services, clock)
    _deliver(services)
    client = login("leader")
    statements = []
    engine = services.session_factory.kw["bind"]

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        client.get("/notifications")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    counts = [s for s in statements if "inapp_notifications" in s and "count" in s.lower() and "read_at IS NULL" in s]
    assert len(counts) == 1


def test_notifications_page_lists_only_my_own_notifications_newest_first(login, services, world, rectify_task, clock):
    _climb_to_leader(services, clock)
    _deliver(services)
    with services.uow() as uow:
        mine, total = bell.notifications(uow.session, world.users.leader)
        others, _ = bell.notifications(uow.session, world.users.head)
    assert mine and others
    page = login("leader").get("/notifications").get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'data-testid="notification-(\d+)"', page)]
    assert shown == [n.id for n in mine] == sorted(shown, reverse=True)
    assert not set(shown) & {n.id for n in others}
    assert re.search(rf'data-testid="notification-total">{total}<', page)


def test_opening_a_notification_marks_just_that_one_read_and_goes_to_its_link(
        login, services, world, rectify_task, clock):
    _climb_to_leader(services, clock)
    _deliver(services)
    with services.uow() as uow:
        first = bell.notifications(uow.session, world.users.leader)[0][0]
        before = bell.unread_count(uow.session, world.users.leader)
    client = login("leader")
    response = client.post(f"/notifications/{first.id}/open", data={"next": "//evil.example/x"})
    assert response.status_code == 303 and response.location.endswith(f"/tasks/{rectify_task.id}"), \
        "the link comes from the stored subject, never from the form"
    with services.uow() as uow:
        assert bell.unread_count(uow.session, world.users.leader) == before - 1


def test_a_user_cannot_mark_someone_elses_notification_read(login, services, world, rectify_task, clock):
    _climb_to_leader(services, clock)
    _deliver(services)
    with services.uow() as uow:
        theirs = bell.notifications(uow.session, world.users.leader)[0][0]
    login("staff").post(f"/notifications/{theirs.id}/open", data={"next": "/inbox"})
    with services.uow() as uow:
        assert bell.notifications(uow.session, world.users.leader)[0][0].read_at is None


def test_escalated_page_shows_the_task_to_the_leader_after_the_sweep_and_not_to_others(
        login, services, rectify_task, clock):
    leader = login("leader")
    assert f'data-testid="escalated-{rectify_task.id}"' not in leader.get("/escalated").get_data(as_text=True)
    _climb_to_leader(services, clock)
    page = leader.get("/escalated").get_data(as_text=True)
    assert f'data-testid="escalated-{rectify_task.id}"' in page and rectify_task.name in page
    for other in ("staff", "outsider"):
        assert f'data-testid="escalated-{rectify_task.id}"' not in login(other).get("/escalated").get_data(as_text=True)


def test_extending_the_deadline_requires_a_reason_and_keeps_the_input(login, services, rectify_task, clock):
    _climb_to_leader(services, clock)
    client = login("leader")
    refused = client.post(f"/escalated/{rectify_task.id}/extend", data={"due_at": "2026-10-30", "reason": " "})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "请填写原因" in html and 'value="2026-10-30"' in html
    ok = client.post(f"/escalated/{rectify_task.id}/extend", data={"due_at": "2026-10-30", "reason": "配件未到货"})
    assert ok.status_code == 303
    with services.uow() as uow:
        assert uow.session.get(HumanTask, rectify_task.id).due_at == china(2026, 10, 30)


def test_escalated_level_reassigns_to_a_colleague_or_takes_over(login, services, world, rectify_task, clock):
    clock.set(china(2026, 9, 25, 9))
    escalation.escalate_overdue(services)
    client = login("head")
    refused = client.post(f"/escalated/{rectify_task.id}/reassign", data={"user_id": world.users.logistics_staff})
    assert refused.status_code == 422 and "所选人员不能办理此任务" in refused.get_data(as_text=True)
    assert client.post(f"/escalated/{rectify_task.id}/reassign", data={"user_id": world.users.staff2}).status_code == 303
    with services.uow() as uow:
        assert uow.session.get(HumanTask, rectify_task.id).assignee_id == world.users.staff2
    assert client.post(f"/escalated/{rectify_task.id}/take-over").status_code == 303
    with services.uow() as uow:
        assert uow.session.get(HumanTask, rectify_task.id).assignee_id == world.users.head
    stranger = login("staff").post(f"/escalated/{rectify_task.id}/take-over")
    assert stranger.status_code == 422


def test_profile_saves_notification_preferences_per_kind_and_channel(login, services, world):
    client = login("staff")
    page = client.get("/profile").get_data(as_text=True)
    assert "通知设置" in page and 'data-testid="pref-task_reminder-email"' in page
    response = client.post("/profile/notifications", data={"pref-task_reminder-email": "digest", "pref-*-webhook": "off"})
    assert response.status_code == 303
    with services.uow() as uow:
        assert bell.preferences(uow.session, world.users.staff) == {("task_reminder", "email"): "digest",
                                                                    ("*", "webhook"): "off"}
    assert re.search(r'name="pref-task_reminder-email".*?<option value="digest" selected>',
                     client.get("/profile").get_data(as_text=True), re.S)


def test_notification_forms_are_refused_without_a_csrf_token(services, world, tmp_path, rectify_task):
    services.evidence_store = EvidenceStore(tmp_path)
    client = create_app(Settings(secret_key="test-secret"), services=services, config={"TESTING": True}).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "head", "password": "pw-head", "csrf_token": token})
    for path in ("/notifications/read", "/notifications/1/open", f"/escalated/{rectify_task.id}/extend",
                 f"/escalated/{rectify_task.id}/reassign", f"/escalated/{rectify_task.id}/take-over",
                 "/profile/notifications"):
        assert client.post(path, data={"reason": "x"}).status_code == 400, path
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/notifications").get_data(as_text=True)).group(1)
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 303


def test_a_clerks_profile_has_no_token_card_and_one_row_of_notification_choices(login):
    clerk = login("staff")
    page = clerk.get("/profile").get_data(as_text=True)
    assert 'data-testid="tokens-card"' not in page and "API 令牌" not in page
    assert re.search(r'<details class="mb-2" data-testid="pref-each-kind" >', page), "per-kind rows start folded"
    assert clerk.post("/profile/tokens", data={"name": "脚本"}).status_code == 303
    assert "您的角色无需 API 令牌" in clerk.get("/profile").get_data(as_text=True)
    clerk.post("/profile/notifications", data={"pref-task_overdue-email": "off"})
    assert 'data-testid="pref-each-kind" open>' in clerk.get("/profile").get_data(as_text=True)
    assert 'data-testid="tokens-card"' in login("designer").get("/profile").get_data(as_text=True)


def test_the_task_page_asks_the_leadership_to_coordinate(login, services, world, rectify_task):
    staff = login("staff")
    staff.post(f"/tasks/{rectify_task.id}/claim")
    page = staff.get(f"/tasks/{rectify_task.id}").get_data(as_text=True)
    assert 'data-testid="coordination-form"' in page
    refused = staff.post(f"/tasks/{rectify_task.id}/coordination", data={"to": "leader", "reason": ""})
    assert refused.status_code == 303
    with services.uow() as uow:
        assert uow.session.get(HumanTask, rectify_task.id).assignee_id == world.users.staff, "nothing changed"
    staff.post(f"/tasks/{rectify_task.id}/coordination", data={"to": "leader", "reason": "整改需要专项资金"})
    escalated = login("leader").get("/escalated").get_data(as_text=True)
    assert "配电柜防护罩缺失" in escalated or f"/tasks/{rectify_task.id}" in escalated
