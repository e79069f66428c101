"""The look-back API: the sample with results, progress, and re-inspection (multipart, with evidence)."""
from __future__ import annotations

import io

from openapi_spec_validator import validate

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns

from .api_fixtures import REGISTER, api, api_app  # noqa: F401

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,学校\n".encode()
STAGES = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                     ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}


def _closed_hazard(report_hazard, do, world) -> int:
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    do(hazard.id, "onsite_fix", world.users.staff, {"measures": "更换", "completion": "完成"})
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "close_hazard", world.users.security2, {"closing_note": "销号"})
    return hazard.id


def test_reinspect_a_sampled_hazard_over_the_api(api, services, world, report_hazard, do):
    hazard_id = _closed_hazard(report_hazard, do, world)
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "t", services.clock.now())
        uow.commit()
    look_back = Campaigns(services).create_campaign(world.users.security, "回头看", template.id, [world.orgs.college],
                                                    STAGES, kind="look_back", sample=[hazard_id], sample_seed=3)
    base = f"/look-backs/{look_back.id}"

    sample = api.call("security", "GET", f"{base}/sample")
    assert sample.status_code == 200
    assert [(i["hazard"]["id"], i["result"]) for i in sample.get_json()] == [(hazard_id, None)]
    assert api.call("outsider", "GET", f"{base}/progress").status_code == 404
    form = {"outcome": "reopened", "note": "防护罩再次缺失", "deadline": "2026-11-30",
            "evidence": (io.BytesIO("复查记录".encode()), "复查.txt")}
    hidden = api.call("staff", "POST", f"{base}/hazards/{hazard_id}/reinspection", data={"outcome": "holds"},
                      content_type="multipart/form-data")
    assert hidden.status_code == 404  # a unit's staff does not see the school's look-back
    refused = api.call("designer", "POST", f"{base}/hazards/{hazard_id}/reinspection", data=dict(form),
                       content_type="multipart/form-data")
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_allowed"

    created = api.call("supervisor", "POST", f"{base}/hazards/{hazard_id}/reinspection",
                       data={**form, "evidence": (io.BytesIO("复查记录".encode()), "复查.txt")},
                       content_type="multipart/form-data")
    assert created.status_code == 201, created.get_json()
    result = created.get_json()
    assert (result["outcome"], result["repeat_count"], len(result["evidence"])) == ("reopened", 1, 1)
    again = api.call("security", "POST", f"{base}/hazards/{hazard_id}/reinspection", data={"outcome": "holds"},
                     content_type="multipart/form-data")
    assert again.status_code == 409 and again.get_json()["code"] == "already_reinspected"
    bad = api.call("security", "POST", f"{base}/hazards/{hazard_id}/reinspection", data={"outcome": "maybe"},
                   content_type="multipart/form-data")
    assert bad.status_code == 422

    progress = api.call("security", "GET", f"{base}/progress").get_json()
    assert (progress["sampled"], progress["reinspected"], progress["reopened"], progress["still_open"]) == (1, 1, 1, 1)
    hazard = api.call("security", "GET", f"/hazards/{hazard_id}").get_json()
    assert hazard["repeat_count"] == 1 and hazard["closed_at"] is None
    assert [t["bpmn_id"] for t in hazard["open_tasks"]] == ["rectification_plan"]
    assert "HazardReopened" in [e["kind"] for e in hazard["timeline"]]

    spec = api.call(None, "GET", "/openapi.json").get_json()
    validate(spec)
    assert {"/api/v1/look-backs/{campaign_id}/sample", "/api/v1/look-backs/{campaign_id}/progress",
            "/api/v1/look-backs/{campaign_id}/hazards/{hazard_id}/reinspection"} <= set(spec["paths"])
