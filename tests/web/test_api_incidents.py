"""The incidents API: a failing completion answers 422, the incident is listed in scope, fixed data and retried."""
from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.org import accounts, tokens
from engine.org.models import OrgNode
from engine.process.models import HumanTask
from tests.incident_diagrams import APPROVE, ENTER, PRICE, diagram
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401


@pytest.fixture
def admin_token(services, world):
    with services.uow() as uow:
        school = uow.session.get(OrgNode, world.orgs.school)
        user = accounts.add_user(uow.session, "admin1", "管理员", "pw-admin1", school, services.clock.now(),
                                 roles=[("admin", school)])
        uow.commit()
    return tokens.create_token(services, user.id, "tests")[1]


def _as_admin(api, token, method, path, **kwargs):
    return api.client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def test_a_failing_completion_is_a_422_then_an_incident_an_admin_fixes_and_retries(api, services, world,
                                                                                   admin_token, database_url):
    source = diagram("purchase", "采购", [ENTER, PRICE, APPROVE], ["enter", "approve"])
    deployed = api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                        data={"file": (io.BytesIO(source), "purchase.bpmn")})
    assert deployed.status_code == 201, deployed.get_json()
    started = api.call("designer", "POST", "/process-instances", json={"key": "purchase", "data": {}})
    instance_id = started.get_json()["id"]
    with services.uow() as uow:
        enter = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()

    failed = api.call("security", "POST", f"/tasks/{enter.id}/complete", json={"data": {}})
    assert failed.status_code == 422
    body = failed.get_json()
    assert body["code"] == "workflow_failed"
    assert "'计价' (price) failed" in body["message"] and "missing variable 'amount'" in body["message"]

    assert api.call("staff", "GET", "/incidents").status_code == 403
    listed = api.call("designer", "GET", "/incidents")
    assert listed.status_code == 200
    [incident] = listed.get_json()
    assert (incident["element_id"], incident["variable"], incident["kind"], incident["process_key"]) == (
        "price", "amount", "task", "purchase")

    # Designers may not change data; an administrator may (bad names are refused), then the retry moves it on.
    assert api.call("designer", "PATCH", f"/process-instances/{instance_id}/variables",
                    json={"variables": {"amount": 2}}).status_code == 403
    bad = _as_admin(api, admin_token, "PATCH", f"/process-instances/{instance_id}/variables",
                    json={"variables": {"_x": 1}})
    assert bad.status_code == 422
    fixed = _as_admin(api, admin_token, "PATCH", f"/process-instances/{instance_id}/variables",
                      json={"variables": {"amount": 2}})
    assert fixed.status_code == 200 and fixed.get_json()["set"] == ["amount"]
    retried = _as_admin(api, admin_token, "POST", f"/incidents/{incident['id']}/retry")
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["status"] == "resolved"
    assert _as_admin(api, admin_token, "POST", f"/incidents/{incident['id']}/retry").status_code == 409
    assert api.call("designer", "GET", "/incidents").get_json() == []
    assert len(api.call("designer", "GET", "/incidents?status=all").get_json()) == 1

    runner = CliRunner()
    listed = runner.invoke(main, ["--database-url", database_url, "incidents", "list", "--status", "all"])
    assert listed.exit_code == 0, listed.output
    assert "price" in listed.output and "resolved" in listed.output


def test_the_openapi_document_lists_the_incident_endpoints(api):
    paths = api.client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get"} <= set(paths["/api/v1/incidents"])
    assert "post" in paths["/api/v1/incidents/{incident_id}/retry"]
    assert "patch" in paths["/api/v1/process-instances/{instance_id}/variables"]


ROLES = ("staff", "head", "logistics_staff", "security", "leader", "supervisor", "designer", "outsider")


def test_incidents_follow_role_and_organisation_scope(api, services, world):
    services.deploy_definition(diagram("purchase", "采购", [ENTER, PRICE, APPROVE], ["enter", "approve"]),
                               "purchase.bpmn", world.users.designer)
    instance = services.start_process("purchase", world.users.designer, {})
    with services.uow() as uow:
        enter = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
    assert api.call("security", "POST", f"/tasks/{enter.id}/complete", json={"data": {}}).status_code == 422
    [incident] = api.call("designer", "GET", "/incidents").get_json()

    got = {role: api.call(role, "GET", "/incidents").status_code for role in ROLES}
    assert got == {**{role: 403 for role in ROLES}, "designer": 200}
    got = {role: api.call(role, "POST", f"/incidents/{incident['id']}/retry").status_code for role in ROLES}
    assert got == {**{role: 403 for role in ROLES}, "designer": 422}  # the designer's retry fails again

    # A designer of another school sees none of it, and the incident's id answers 404.
    with services.uow() as uow:
        other = uow.session.get(OrgNode, world.orgs.other_school)
        foreign = accounts.add_user(uow.session, "designer2", "另一设计", "pw-designer2", other,
                                    services.clock.now(), roles=[("process_designer", other)])
        uow.commit()
    token = tokens.create_token(services, foreign.id, "tests")[1]
    assert _as_admin(api, token, "GET", "/incidents").get_json() == []
    assert _as_admin(api, token, "POST", f"/incidents/{incident['id']}/retry").status_code == 404
