"""The 整改通知书 REST API: the scoped list, one hazard's notice, issuing on demand (403/409/422), OpenAPI."""
from __future__ import annotations

from openapi_spec_validator import validate

from .api_fixtures import api, api_app  # noqa: F401

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-20", "onsite_fix": False}


def _register(do, world, hazard_id, **overrides):
    return do(hazard_id, "register_hazard", world.users.security,
              {**REGISTER, "responsible_unit_id": world.orgs.college, **overrides})


def test_openapi_lists_the_notice_endpoints_and_stays_valid(api):
    spec = api.call(None, "GET", "/openapi.json").get_json()
    validate(spec)
    assert {"/api/v1/notices", "/api/v1/hazards/{hazard_id}/notice"} <= set(spec["paths"])
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/hazards/{hazard_id}/notice"])
    assert "409" in spec["paths"]["/api/v1/hazards/{hazard_id}/notice"]["post"]["responses"]


def test_a_hazards_notice_as_json_and_404s(api, world, report_hazard, do):
    hazard = report_hazard()
    _register(do, world, hazard.id)
    response = api.call("head", "GET", f"/hazards/{hazard.id}/notice")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["number"], body["year"], body["seq"]) == ("某职业学院〔2026〕整改第 001 号", 2026, 1)
    assert body["unit"]["name"] == "机电工程学院" and body["deadline"] == "2026-11-20"
    assert body["content"]["problem"] == "车床防护罩缺失" and body["print_url"] == f"/hazards/{hazard.id}/notice"
    out_of_scope = api.call("outsider", "GET", f"/hazards/{hazard.id}/notice")
    assert out_of_scope.status_code == 404 and out_of_scope.get_json()["code"] == "not_found"
    without = report_hazard(location="食堂")
    assert api.call("security", "GET", f"/hazards/{without.id}/notice").status_code == 404


def test_issuing_on_demand_answers_201_then_409_and_refuses_others(api, world, report_hazard, do):
    hazard = report_hazard()
    early = api.call("security", "POST", f"/hazards/{hazard.id}/notice", json={})
    assert early.status_code == 409 and early.get_json()["code"] == "notice_not_issuable"
    _register(do, world, hazard.id, onsite_fix=True)
    assert api.call("staff", "POST", f"/hazards/{hazard.id}/notice", json={}).status_code == 403
    assert api.call("outsider", "POST", f"/hazards/{hazard.id}/notice", json={}).status_code == 404
    bad = api.call("security", "POST", f"/hazards/{hazard.id}/notice", json={"requirement": "typo"})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "requirement"
    created = api.call("security", "POST", f"/hazards/{hazard.id}/notice", json={"requirements": "三日内整改"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["seq"] == 1 and created.get_json()["content"]["requirements"] == "三日内整改"
    again = api.call("security2", "POST", f"/hazards/{hazard.id}/notice", json={})
    assert again.status_code == 409 and again.get_json()["code"] == "notice_already_issued"


def test_the_list_is_scoped_filtered_by_year_and_paginated(api, world, report_hazard, do):
    for n in range(3):
        hazard = report_hazard(location=f"实训楼{n}")
        _register(do, world, hazard.id)
    listed = api.call("security", "GET", "/notices?year=2026&per_page=2").get_json()
    assert listed["total"] == 3 and [n["seq"] for n in listed["items"]] == [3, 2]
    assert [n["seq"] for n in api.call("security", "GET", "/notices?per_page=2&page=2").get_json()["items"]] == [1]
    assert api.call("security", "GET", "/notices?year=2027").get_json()["total"] == 0
    assert api.call("outsider", "GET", "/notices").get_json()["total"] == 0
    assert api.call("head", "GET", "/notices").get_json()["total"] == 3
