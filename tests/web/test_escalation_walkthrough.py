"""The README's walkthrough, pinned: in the demo, 落实整改 of 后勤管理处 climbs the ladder as the clock moves.

The demo is built on a Tuesday 09:00 (China time), as the README's day numbers assume; the sweep and delivery run
at the moved clock as `rectiflow escalate --now --days-ahead N` and `rectiflow deliver --days-ahead N` do.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.demo import DEMO_PASSWORD, build_demo
from engine.infra.config import Settings
from engine.infra.timezone import CHINA
from engine.org.accounts import find_user
from engine.process import delivery, escalation
from engine.process.models import HumanTask
from engine.rectification.attachments import EvidenceStore
from engine.rectification.models import Hazard
from notifications.inapp import InAppNotifier
from web.app import create_app

BUILT = datetime(2026, 11, 24, 9, 0, tzinfo=CHINA)  # a Tuesday, far from any public holiday


@pytest.fixture
def demo(services, clock, tmp_path):
    """The demo school built at BUILT, its web app, and the id of the 学生食堂后厨 rectify task."""
    clock.set(BUILT)
    build_demo(services)
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    app = create_app(Settings(secret_key="test-secret"), services=services,
                     config={"TESTING": True, "WTF_CSRF_ENABLED": False})
    with services.uow() as uow:
        task = uow.session.scalars(select(HumanTask).join(Hazard, Hazard.id == HumanTask.hazard_id).where(
            Hazard.location == "学生食堂后厨", HumanTask.bpmn_id == "rectify", HumanTask.state == "ready")).one()
    return app, task.id


def _days_ahead(services, clock, n: int) -> None:
    """`rectiflow escalate --now --days-ahead n` then `rectiflow deliver --days-ahead n`."""
    clock.set(BUILT + timedelta(days=n))
    escalation.escalate_overdue(services)
    delivery.deliver_pending(services, {"inapp": InAppNotifier(delivery.inapp_store(services))})


def _client(app, username):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return client


def _escalated_level(app, username, task_id) -> int | None:
    """The 第 N 级 shown for the task on the user's 升级给我 page, or None when it is not there."""
    html = _client(app, username).get("/escalated").get_data(as_text=True)
    card = re.search(rf'data-testid="escalated-{task_id}".*?第 (\d+) 级', html, re.S)
    return int(card.group(1)) if card else None


def test_the_walkthrough_ladder_in_the_ui(services, clock, demo):
    app, task_id = demo
    assert all(_escalated_level(app, u, task_id) is None for u in ("head_hq", "security", "leader", "bureau"))

    _days_ahead(services, clock, 6)  # overdue: the unit head (周处长) has it
    assert _escalated_level(app, "head_hq", task_id) == 1
    assert _escalated_level(app, "security", task_id) is None
    head = _client(app, "head_hq")
    page = head.get("/escalated").get_data(as_text=True)
    options = re.search(rf'<select[^>]*data-testid="candidates-{task_id}".*?</select>', page, re.S).group(0)
    assert "孙网格（grid_hq）" in options and "陈后勤（staff_hq）" in options
    bell = head.get("/notifications").get_data(as_text=True)
    assert re.search(r'data-testid="bell-count">[1-9]', bell) and "逾期任务已升级至您：落实整改" in bell
    note = re.search(r'data-testid="notification-(\d+)"[^>]*>(?:(?!data-testid="notification-).)*?'
                     r"逾期任务已升级至您：落实整改", bell, re.S).group(1)
    assert head.post(f"/notifications/{note}/open").location.endswith(f"/tasks/{task_id}")
    assert "任务已逾期：落实整改" in _client(app, "staff_hq").get("/notifications").get_data(as_text=True)

    _days_ahead(services, clock, 8)  # two working days after the due time: the security office
    assert _escalated_level(app, "security", task_id) == 2
    assert _escalated_level(app, "security2", task_id) == 2, "every holder of the role at the school"
    assert _escalated_level(app, "leader", task_id) is None
    assert "逾期任务已升级至您：落实整改" in _client(app, "security").get("/notifications").get_data(as_text=True)

    _days_ahead(services, clock, 10)
    assert _escalated_level(app, "leader", task_id) == 3
    assert _escalated_level(app, "bureau", task_id) is None

    _days_ahead(services, clock, 14)
    assert _escalated_level(app, "bureau", task_id) == 4
    assert _escalated_level(app, "head_hq", task_id) == 1, "each level keeps seeing what reached it"


def test_the_walkthrough_reassign_and_extension_end_the_climb(services, clock, demo):
    app, task_id = demo
    _days_ahead(services, clock, 6)
    with services.uow() as uow:
        grid_hq = find_user(uow.session, "grid_hq").id
    assert _client(app, "head_hq").post(f"/escalated/{task_id}/reassign",
                                        data={"user_id": grid_hq}).status_code == 303
    _days_ahead(services, clock, 8)
    security = _client(app, "security")
    refused = security.post(f"/escalated/{task_id}/extend", data={"due_at": "2026-12-31", "reason": ""})
    assert refused.status_code == 422 and "请填写原因" in refused.get_data(as_text=True)
    assert security.post(f"/escalated/{task_id}/extend",
                         data={"due_at": "2026-12-31", "reason": "报警器联网设备到货需两周"}).status_code == 303
    _days_ahead(services, clock, 16)
    assert _escalated_level(app, "leader", task_id) is None, "the new deadline restarted the ladder"
    bell = _client(app, "grid_hq").get("/notifications").get_data(as_text=True)
    assert "任务已改派给您：落实整改" in bell and "任务期限已延长：落实整改" in bell
