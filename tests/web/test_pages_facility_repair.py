"""设施报修 in the pages: a department user finds it in 发起流程, starts it through its form, and the request walks
through the inboxes of the head, the security office and the repairing unit, deciding by the form's buttons."""
from __future__ import annotations

import re

from sqlalchemy import select

from engine.process.models import HumanTask, ProcessInstance

from .ui_fixtures import app, field_error, login, task_ids  # noqa: F401

KEY = "facility_repair"


def _open_task(services, instance_id: int) -> HumanTask:
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                           HumanTask.state == "ready")).one()


def test_a_department_user_starts_a_repair_request_from_the_catalogue(login, services, world):
    staff = login("staff")
    catalogue = staff.get("/processes").get_data(as_text=True)
    assert f'data-testid="start-{KEY}"' in catalogue and "设施报修" in catalogue
    assert f'data-testid="start-{KEY}"' not in login("security").get("/processes").get_data(as_text=True)

    form = staff.get(f"/processes/{KEY}/start").get_data(as_text=True)
    assert all(f'id="f-{name}"' in form for name in ("location", "facility", "description", "urgency"))
    assert "紧急程度" in form and "应急照明灯" in form  # the facility field's hint

    typed = {"location": "图书馆三楼楼梯间", "facility": "应急照明灯", "description": "", "urgency": "normal"}
    bad = staff.post(f"/processes/{KEY}/start", data=typed)
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert field_error(page, "description") and 'value="图书馆三楼楼梯间"' in page
    with services.uow() as uow:
        assert uow.session.query(ProcessInstance).count() == 0

    started = staff.post(f"/processes/{KEY}/start", data={**typed, "description": "断电后不亮"})
    assert started.status_code == 303
    instance_id = int(re.search(r"/instances/(\d+)$", started.headers["Location"]).group(1))
    assert 'data-testid="open-task-approve_repair"' in staff.get(f"/instances/{instance_id}").get_data(as_text=True)

    # The reporter's head sees it in his group inbox and decides with the form's two buttons.
    head = login("head")
    task = _open_task(services, instance_id)
    inbox = head.get("/inbox?view=groups").get_data(as_text=True)
    assert task.id in task_ids(inbox) and "审核报修" in inbox
    head.post(f"/tasks/{task.id}/claim")
    decide = head.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-testid="decide-yes"' in decide and "同意报修" in decide and "不予报修" in decide
    assert head.post(f"/tasks/{task.id}/complete", data={"repair_approved": "true"}).status_code in (302, 303)

    security = login("security")
    task = _open_task(services, instance_id)
    assert task.bpmn_id == "dispatch_repair" and task.id in task_ids(
        security.get("/inbox?view=groups").get_data(as_text=True))
    security.post(f"/tasks/{task.id}/claim")
    security.post(f"/tasks/{task.id}/complete", data={"responsible_unit_id": str(world.orgs.logistics),
                                                       "dispatch_notes": "更换蓄电池"})

    # The repairing unit's task page shows the diagram's instructions over the request's data.
    worker = login("logistics_staff")
    task = _open_task(services, instance_id)
    assert task.bpmn_id == "do_repair"
    page = worker.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-testid="task-instructions"' in page
    assert "<h2>应急照明灯（图书馆三楼楼梯间）</h2>" in page and "维修要求：更换蓄电池" in page
