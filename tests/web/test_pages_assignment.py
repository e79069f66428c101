"""The task page for foreign diagrams: instructionsForEndUser rendered and escaped; named candidate users claim."""
from __future__ import annotations

from sqlalchemy import select

from engine.process.models import HumanTask
from tests.integration.test_assignment import CAMUNDA, ROLE_MAP, SPIFF

from .ui_fixtures import app, login  # noqa: F401


def test_the_task_page_renders_instructions_with_html_in_the_data_escaped(services, world, login):
    services.deploy_definition(SPIFF.encode(), "leave.bpmn", world.users.designer, role_map=ROLE_MAP)
    instance = services.start_process("leave_request", world.users.designer, {
        "responsible_unit_id": world.orgs.college, "requester": "Li <img src=x onerror=alert(1)>",
        "reason": "[click](javascript:alert(1)) <script>alert(2)</script>"})
    with services.uow() as uow:
        task_id = uow.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                                HumanTask.bpmn_id == "check"))
    page = login("staff").get(f"/tasks/{task_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="task-instructions"' in html
    assert "<h2>Request by Li &lt;img src=x onerror=alert(1)&gt;</h2>" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html and "<script>alert(2)" not in html
    assert 'href="javascript:' not in html and "<img src=x" not in html


def test_a_named_candidate_user_may_open_and_claim_the_task_on_its_page(services, world, login):
    u = world.users
    services.deploy_definition(CAMUNDA.encode(), "invoice.bpmn", u.designer, role_map={"accounting": "security_office"})
    instance = services.start_process("camunda_invoice", u.designer, {"approver": "head", "prio": 10})
    for bpmn_id, user, data in (("approve", u.head, {"amount": 500, "approved": True}), ("book", u.security, {})):
        with services.uow() as uow:
            task_id = uow.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                                    HumanTask.bpmn_id == bpmn_id))
        services.complete_task(task_id, user, data)
    with services.uow() as uow:
        archive = uow.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                                HumanTask.bpmn_id == "archive"))
    page = login("staff2").get(f"/tasks/{archive}").get_data(as_text=True)
    assert 'data-testid="claim"' in page and "此任务由流程指定的人员办理" in page
    assert login("head").get(f"/tasks/{archive}").status_code == 404  # not a candidate, not in scope
    assert login("staff2").post(f"/tasks/{archive}/claim").status_code == 303
    with services.uow() as uow:
        assert uow.session.get(HumanTask, archive).assignee_id == u.staff2
