"""The task page shows a SpiffArena task's instructionsForEndUser: Jinja over the task data, Markdown, escaped."""
from __future__ import annotations

from sqlalchemy import select

from engine.process.models import HumanTask
from tests.integration.test_assignment import ROLE_MAP, SPIFF

from .ui_fixtures import app, login


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
