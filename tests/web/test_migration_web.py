"""Replacing and migrating through the REST API and the command line, on both databases."""
from __future__ import annotations

import io

from click.testing import CliRunner
from sqlalchemy import select

from engine.org import tokens
from engine.process.models import HumanTask
from tests.admins import add_admin
from tests.integration.test_protection import simple
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401


def _two_versions(services, world):
    """leave_request v1 with one instance at each approval, then v2 without the second approval (by an admin)."""
    services.deploy_definition(simple(), "leave.bpmn", world.users.designer)
    at_first = services.start_process("leave_request", world.users.designer, business_key="leave:1")
    at_second = services.start_process("leave_request", world.users.designer, business_key="leave:2")
    with services.uow() as uow:
        task_id = uow.session.scalars(select(HumanTask.id).where(HumanTask.instance_id == at_second.id)).one()
    services.complete_task(task_id, world.users.security, {})
    admin = add_admin(services, world)
    v2 = services.deploy_definition(simple(second=False), "leave.bpmn", admin, replace=True)
    return admin, v2, at_first, at_second


def test_api_migration_dry_run_then_move_by_admins_only(api, services, world):
    admin, v2, at_first, at_second = _two_versions(services, world)
    token = tokens.create_token(services, admin, "tests")[1]

    def as_admin(path):
        return api.client.post(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"})

    assert api.call("designer", "POST", f"/definitions/{v2.id}/migration").status_code == 403
    dry = as_admin(f"/definitions/{v2.id}/migration")  # dry_run is the default
    assert dry.status_code == 200
    body = dry.get_json()
    assert (body["key"], body["from_version"], body["to_version"], body["dry_run"]) == ("leave_request", 1, 2, True)
    assert [(i["instance_id"], i["safe"], i["moved"], i["reasons"]) for i in body["instances"]] == [
        (at_first.id, True, False, []),
        (at_second.id, False, False, ["it waits at 'second' (复审), which v2 no longer has"])]
    moved = as_admin(f"/definitions/{v2.id}/migration?dry_run=false").get_json()
    assert [(i["instance_id"], i["moved"]) for i in moved["instances"]] == [(at_first.id, True), (at_second.id, False)]
    assert as_admin(f"/definitions/{v2.id}/migration?from_version=7").status_code == 404
    listed = {d["version"]: d for d in api.call("designer", "GET", "/definitions").get_json()
              if d["key"] == "leave_request"}
    assert listed[2]["replaced"] and listed[2]["deployed_by"] == "admin"
    assert listed[2]["change_summary"] == ("against v1: removed: second (复审); "
                                           "4 other element(s) added, removed or changed")


def test_api_deploy_of_a_process_with_running_instances_says_replace_is_needed(api, services, world):
    services.deploy_definition(simple(), "leave.bpmn", world.users.designer)
    services.start_process("leave_request", world.users.designer)
    refused = api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(simple(second=False)), "leave.bpmn")})
    assert refused.status_code == 422
    assert "1 instance(s) are running" in refused.get_json()["message"]
    assert refused.get_json()["errors"][0]["fix"].startswith("an administrator deploys it with replace")


def test_cli_deploy_replace_list_and_migrate(services, world, database_url, tmp_path):
    admin, v2, at_first, at_second = _two_versions(services, world)
    runner = CliRunner()

    def cli(*args, code=0):
        result = runner.invoke(main, ["--database-url", database_url, *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    listing = cli("bpmn", "list")
    assert "leave_request" in listing and "[replaced]" in listing and "against v1: removed: second (复审)" in listing
    dry = cli("bpmn", "migrate", "leave_request", "--to", "2", "--dry-run")
    assert f"instance {at_first.id} leave:1: can move" in dry
    assert f"instance {at_second.id} leave:2: stays: it waits at 'second' (复审), which v2 no longer has" in dry
    assert "leave_request v1 → v2: 1 of 2 can move" in dry
    assert "only an administrator" in cli("bpmn", "migrate", "leave_request", "--to", "2", "--user", "designer",
                                          code=2)
    assert "1 of 2 moved" in cli("bpmn", "migrate", "leave_request", "--to", "2", "--user", "admin")
    assert "has no version 9" in cli("bpmn", "migrate", "leave_request", "--to", "9", code=2)
    v3 = tmp_path / "leave.bpmn"
    v3.write_bytes(simple(first_name="终审"))
    refused = cli("bpmn", "deploy", str(v3), "--user", "designer", code=2)
    assert "needs an explicit replace" in refused and "leave_request" in refused
    deployed = cli("bpmn", "deploy", str(v3), "--user", "admin", "--replace")
    assert "leave_request v3" in deployed and "user tasks added: second (复审); renamed: first 初审 → 终审" in deployed
