"""The 升级给我 reassign form offers the task's candidates (searchable when many); the service still checks."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from engine.infra.timezone import CHINA
from engine.process import escalation
from engine.process.models import HumanTask
from web.pages import notifications as notifications_view

from .ui_fixtures import app, login  # noqa: F401

PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-09-24",
        "plan_contingency": "停用该车床"}


def china(y, m, d, hh=18, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


@pytest.fixture
def escalated_task(services, world, report_hazard, do, task_of, clock):
    """The college's rectify task, overdue and escalated to its unit head (head)."""
    clock.set(china(2026, 9, 22, 9))
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-09-24",
        "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    task = task_of(hazard.id, "rectify")
    clock.set(china(2026, 9, 25, 9))
    escalation.escalate_overdue(services)
    return task


def _options(html: str, task_id: int) -> dict[str, str]:
    select = re.search(rf'<select[^>]*data-testid="candidates-{task_id}".*?</select>', html, re.S).group(0)
    return {value: label.strip() for value, label in re.findall(r'<option value="(\d+)"[^>]*>([^<]+)<', select)}


def test_the_reassign_form_offers_exactly_the_candidates(login, world, escalated_task):
    page = login("head").get("/escalated").get_data(as_text=True)
    options = _options(page, escalated_task.id)
    assert set(options) == {str(world.users.staff), str(world.users.staff2)}
    assert options[str(world.users.staff2)] == "staff2（staff2）· 机电工程学院"
    assert f'data-testid="candidate-search-{escalated_task.id}"' not in page, "two people need no search"


def test_a_hand_crafted_choice_outside_the_candidates_is_refused_and_changes_nothing(
        login, services, world, escalated_task):
    client = login("head")
    for stranger in (world.users.logistics_staff, world.users.outsider, 999_999):
        refused = client.post(f"/escalated/{escalated_task.id}/reassign", data={"user_id": stranger, "reason": "x"})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422 and "所选人员不能办理此任务" in html
    missing = client.post(f"/escalated/{escalated_task.id}/reassign", data={})
    assert missing.status_code == 422 and "请选择改派对象" in missing.get_data(as_text=True)
    with services.uow() as uow:
        assert uow.session.get(HumanTask, escalated_task.id).assignee_id is None
    chosen = client.post(f"/escalated/{escalated_task.id}/reassign", data={"user_id": world.users.staff2})
    assert chosen.status_code == 303
    with services.uow() as uow:
        assert uow.session.get(HumanTask, escalated_task.id).assignee_id == world.users.staff2
    after = client.get("/escalated").get_data(as_text=True)
    assert set(_options(after, escalated_task.id)) == {str(world.users.staff)}, "the new holder is not offered"


def test_a_long_list_is_cut_and_searchable_with_and_without_javascript(
        login, world, escalated_task, monkeypatch):
    monkeypatch.setattr(notifications_view, "CANDIDATES_SHOWN", 1)
    client = login("head")
    page = client.get("/escalated").get_data(as_text=True)
    assert len(_options(page, escalated_task.id)) == 1 and "另有 1 人未列出" in page
    assert f'data-testid="candidate-search-{escalated_task.id}"' in page
    found = client.get(f"/escalated?find={escalated_task.id}&q=staff2").get_data(as_text=True)
    assert set(_options(found, escalated_task.id)) == {str(world.users.staff2)}
    assert 'value="staff2"' in found, "the search box keeps what was typed"
    partial = client.get(f"/escalated/{escalated_task.id}/candidates?q=staff2").get_data(as_text=True)
    assert f'<option value="{world.users.staff2}"' in partial and f'value="{world.users.staff}"' not in partial
    assert "<html" not in partial


def test_only_levels_the_task_reached_may_list_its_candidates(login, escalated_task):
    assert login("head").get(f"/escalated/{escalated_task.id}/candidates").status_code == 200
    for other in ("staff", "leader", "outsider"):
        assert login(other).get(f"/escalated/{escalated_task.id}/candidates").status_code == 404, other
    assert login("head").get("/escalated/999999/candidates").status_code == 404
