"""大型活动安全预案 in the pages: a department user starts it from 发起流程 with its 申报 form (a missing field is a
422 that keeps what was typed), and the plan reaches the unit head's group inbox for 部门审核."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.process.models import HumanTask, ProcessInstance

from .ui_fixtures import app, field_error, login, task_ids  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

KEY = "event_safety_plan"
FORM = {"event_name": "迎新晚会", "event_date": "2026-12-18", "event_time": "19:00—21:30", "place": "大学生活动中心",
        "expected_participants": "800", "organiser": "机电工程学院", "safety_measures": "",
        "emergency_plan": "设两条疏散通道，医务人员驻场", "responsible_person": "刘院长", "contact_phone": ""}


def test_a_department_user_files_an_event_plan_from_the_catalogue(login, services, world):
    staff = login("staff")
    catalogue = staff.get("/processes").get_data(as_text=True)
    assert f'data-testid="start-{KEY}"' in catalogue and "大型活动安全预案" in catalogue
    assert f'data-testid="start-{KEY}"' not in login("security").get("/processes").get_data(as_text=True)

    form = staff.get(f"/processes/{KEY}/start").get_data(as_text=True)
    assert all(f'id="f-{name}"' in form for name in ("event_name", "event_date", "place", "expected_participants",
                                                     "organiser", "safety_measures", "emergency_plan",
                                                     "responsible_person"))
    bad = staff.post(f"/processes/{KEY}/start", data=FORM)
    assert bad.status_code == 422
    assert field_error(bad.get_data(as_text=True), "safety_measures") and 'value="迎新晚会"' in bad.get_data(as_text=True)
    with services.uow() as uow:
        assert uow.session.query(ProcessInstance).count() == 0

    started = staff.post(f"/processes/{KEY}/start", data={**FORM, "safety_measures": "分区入场，控制人数"})
    assert started.status_code == 303
    instance_id = int(re.search(r"/instances/(\d+)$", started.headers["Location"]).group(1))
    with services.uow() as uow:
        task = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()
    assert task.bpmn_id == "department_review" and task.name == "部门审核：迎新晚会"
    head = login("head")
    assert task.id in task_ids(head.get("/inbox?view=groups").get_data(as_text=True))
    page = head.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "大学生活动中心" in page and 'data-testid="task-instructions"' in page
