"""The 流程故障 page: a failed completion shows as a form error; designers see the incident and retry it."""
from __future__ import annotations

from sqlalchemy import select

from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask, Incident
from tests.incident_diagrams import APPROVE, ENTER, PRICE, diagram

from .ui_fixtures import app, login  # noqa: F401


def _failing_instance(services, world):
    services.deploy_definition(diagram("purchase", "采购申请", [ENTER, PRICE, APPROVE], ["enter", "approve"]),
                               "purchase.bpmn", world.users.designer)
    instance = services.start_process("purchase", world.users.designer, {})
    with services.uow() as uow:
        return instance, uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()


def test_a_failed_completion_is_a_form_error_and_the_incident_is_retried_from_its_page(services, world, login):
    instance, task = _failing_instance(services, world)
    security = login("security")
    assert security.post(f"/tasks/{task.id}/claim").status_code in (302, 303)
    page = security.post(f"/tasks/{task.id}/complete", data={})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "流程无法继续" in html and "&#39;计价&#39; (price) failed" in html and "amount" in html

    assert login("staff").get("/incidents").status_code == 403
    designer = login("designer")
    listing = designer.get("/incidents").get_data(as_text=True)
    with services.uow() as uow:
        incident = uow.session.scalars(select(Incident)).one()
    assert f'data-testid="incident-{incident.id}"' in listing and "采购申请" in listing and "amount" in listing
    assert 'data-testid="nav-incidents"' in listing

    again = designer.post(f"/incidents/{incident.id}/retry", data={"status": "open"}, follow_redirects=True)
    assert "重试仍未成功" in again.get_data(as_text=True)

    with services.uow() as uow:
        school = uow.session.get(OrgNode, world.orgs.school)
        admin = accounts.add_user(uow.session, "admin1", "管理员", "pw-admin1", school, services.clock.now(),
                                  roles=[("admin", school)])
        uow.commit()
    services.set_instance_variables(instance.id, admin.id, {"amount": 7})
    done = login("admin1").post(f"/incidents/{incident.id}/retry", data={"status": "open"}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "重试成功" in html and 'data-testid="no-incidents"' in html
    resolved = designer.get("/incidents?status=resolved").get_data(as_text=True)
    assert f'data-testid="incident-{incident.id}"' in resolved
