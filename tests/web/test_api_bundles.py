"""Bundles through the REST API and the CLI: several files or a zip, refused zips, validate = deploy, downloads."""
from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from engine.process.bundles import MAX_FILE_BYTES, MAX_FILES
from tests.integration.test_bundles import (
    DISCOUNT_DMN,
    REVIEW_FORM,
    _data_of_open_task,
    callee,
    caller,
    diagram,
    process,
    user_task,
)
from tests.zips import zip_of
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401

RULE = '<bpmn:businessRuleTask id="decide" name="折扣" camunda:decisionRef="discount" />'
FORM = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer", "minimum": 0}}}


def discount_bpmn() -> bytes:
    return diagram("discounting", process(
        "discounting", RULE + user_task("ok", "确认", formJsonSchemaFilename="forms/ok.json"), ["decide", "ok"],
        lane_tasks=["ok"]))


FILES = {"discount.bpmn": discount_bpmn(), "rules/discount.dmn": DISCOUNT_DMN,
         "forms/ok.json": json.dumps(FORM).encode()}



def _post(api, path: str, files: dict[str, bytes], user: str = "designer", **form):
    data = {"file": [(io.BytesIO(content), name) for name, content in files.items()], **form}
    return api.call(user, "POST", path, data=data, content_type="multipart/form-data")


def test_several_files_deploy_as_one_bundle_and_the_decision_runs(api, services, world):
    got = _post(api, "/definitions", FILES)
    assert got.status_code == 201, got.get_json()
    body = got.get_json()
    assert (body["key"], body["version"]) == ("discounting", 1)
    assert [(d["key"], d["filename"]) for d in body["definitions"]] == [("discounting", "discount.bpmn")]
    started = api.call("designer", "POST", "/process-instances", json={"key": "discounting", "data": {"amount": 2500}})
    assert started.status_code == 201
    [task] = [t for t in api.call("security", "GET", "/tasks?view=groups").get_json()["items"]
              if t["instance_id"] == started.get_json()["id"]]
    assert task["bpmn_id"] == "ok"
    assert _data_of_open_task(services, started.get_json()["id"])["discount"] == 25


def test_a_zip_deploys_and_its_files_download_as_uploaded(api):
    members = {f"discounting/{name}": content for name, content in FILES.items()}
    members["discounting/README.md"] = b"# notes"
    got = _post(api, "/definitions", {"discounting.zip": zip_of(members)})
    assert got.status_code == 201, got.get_json()
    body = got.get_json()
    assert [f["code"] for f in body["findings"] if f["severity"] == "warning"] == ["file-skipped"]
    listed = api.call("designer", "GET", f"/definitions/{body['id']}/files").get_json()
    assert [f["name"] for f in listed] == list(FILES)
    one = api.call("designer", "GET", f"/definitions/{body['id']}/files/rules/discount.dmn")
    assert one.status_code == 200 and one.data == DISCOUNT_DMN and one.mimetype == "application/xml"
    assert "attachment" in one.headers["Content-Disposition"]
    assert api.call("designer", "GET", f"/definitions/{body['id']}/files/nope.json").status_code == 404
    assert api.call("staff", "GET", f"/definitions/{body['id']}/files").status_code == 403
    assert api.call("designer", "GET", "/definitions/9999/files").status_code == 404


@pytest.mark.parametrize("members, message", [
    ({"../evil.bpmn": b"<x/>"}, "points outside the bundle"),
    ({"/etc/evil.bpmn": b"<x/>"}, "not a relative path"),
    ({"a.bpmn": FILES["discount.bpmn"], "inner.zip": zip_of({"b.bpmn": b"<x/>"})}, "zip inside the zip"),
    ({f"f{i}.json": b"{}" for i in range(MAX_FILES + 1)}, f"more than {MAX_FILES}"),
    ({"big.bpmn": b" " * (MAX_FILE_BYTES + 1)}, f"more than {MAX_FILE_BYTES}"),
], ids=["dotdot", "absolute", "nested", "too-many", "too-large"])
def test_a_dangerous_or_oversized_zip_is_refused_clearly_and_nothing_is_deployed(api, members, message):
    before = len(api.call("designer", "GET", "/definitions").get_json())
    for path in ("/definitions", "/definitions/validate"):
        got = _post(api, path, {"bundle.zip": zip_of(members)})
        assert got.status_code == 422, got.get_json()
        assert got.get_json()["code"] == "invalid_diagram" and message in got.get_json()["message"]
    assert len(api.call("designer", "GET", "/definitions").get_json()) == before


def test_validate_and_deploy_agree_on_the_same_bundle(api):
    bad = dict(FILES, **{"discount.bpmn": FILES["discount.bpmn"].replace(b'"discount"', b'"rebate"')})
    bad["forms/ok.json"] = b'{"type": 12}'
    report = _post(api, "/definitions/validate", bad)
    assert report.status_code == 200
    body = report.get_json()
    errors = [f for f in body["findings"] if f["severity"] == "error"]
    assert body["ok"] is False and errors and body["processes"] == []
    refused = _post(api, "/definitions", bad)
    assert refused.status_code == 422
    assert [f for f in refused.get_json()["errors"] if f["severity"] == "error"] == errors
    assert any("rebate" in f["message"] for f in errors)

    good = _post(api, "/definitions/validate", FILES).get_json()
    assert good["ok"] is True and [p["key"] for p in good["processes"]] == ["discounting"]
    assert good["processes"][0]["forms"] == ["forms/ok.json"] and good["files"] == list(FILES)
    deployed = _post(api, "/definitions", FILES).get_json()
    assert [d["key"] for d in deployed["definitions"]] == [p["key"] for p in good["processes"]]


def test_role_map_replace_and_permissions_on_the_upload(api):
    foreign = diagram("foreign", process("foreign", user_task("check", "检查"), ["check"], lane_tasks=["check"],
                                         lane="Reviewers"))
    assert _post(api, "/definitions", {"f.bpmn": foreign}).status_code == 422
    assert _post(api, "/definitions", {"f.bpmn": foreign}, role_map="[1]").get_json()["errors"][0]["field"] == \
        "role_map"
    got = _post(api, "/definitions", {"f.bpmn": foreign}, role_map=json.dumps({"Reviewers": "leader"}),
                replace="true")
    assert got.status_code == 201, got.get_json()
    assert _post(api, "/definitions", FILES, user="staff").status_code == 403
    assert _post(api, "/definitions/validate", FILES, user="staff").status_code == 403
    assert _post(api, "/definitions", {"notes.txt": b"hello"}).get_json()["code"] == "invalid_diagram"


def test_a_call_activity_resolves_to_the_callee_deployed_before_through_the_api(api):
    assert _post(api, "/definitions", {"review.bpmn": callee(), "r.json": json.dumps(REVIEW_FORM).encode()}) \
        .status_code == 201
    report = _post(api, "/definitions/validate", {"main.bpmn": caller("1")}).get_json()
    assert report["ok"] and report["processes"][0]["callees"] == {"review": 1}
    assert _post(api, "/definitions", {"main.bpmn": caller("1")}).get_json()["callees"] == {"review": 1}


def test_the_cli_lints_and_deploys_a_folder(database_url, tmp_path):
    folder = tmp_path / "discounting"
    for name, content in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    runner = CliRunner()

    def cli(*args, code=0):
        result = runner.invoke(main, ["--database-url", database_url, *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    assert "ok discount.bpmn: process discounting, 1 user tasks" in cli("bpmn", "lint", str(folder))
    assert "discounting v1" in cli("bpmn", "deploy", str(folder), "--role-map", '{"*": "leader"}')
    (folder / "forms" / "ok.json").write_text('{"type": 12}')
    assert "is not a valid JSON Schema" in cli("bpmn", "validate", str(folder), code=1)
    assert "invalid_diagram" in cli("bpmn", "deploy", str(folder), code=2)
