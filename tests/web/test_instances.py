"""One inbox for every process, the process catalogue (发起流程), instance lists and pages, and cancelling.

Through the REST API, the pages and the CLI, with a process nobody shipped (catalogue_helpers.DIAGRAM) next to
the shipped hazard process.
"""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select

from engine.campaigns import checklists
from engine.campaigns.service import Campaigns
from engine.org import accounts, tokens
from engine.org.models import OrgNode
from engine.process.models import HumanTask, ProcessInstance
from web.cli.main import main

from .api_fixtures import api, api_app  # noqa: F401
from .catalogue_helpers import bpmn_dir_with_form, deploy_purchase
from .test_pages_campaigns import CSV, STAGES
from .ui_fixtures import app, field_error, login  # noqa: F401

KEY = "purchase_form"


@pytest.fixture
def bpmn_dir(tmp_path):
    """The shipped diagrams' folder plus the purchase process's start form (forms are read from it)."""
    return bpmn_dir_with_form(tmp_path)


@pytest.fixture
def purchase(services, world):
    """The purchase process deployed by the designer; start(n) starts it as the designer with business key PO-n."""
    deploy_purchase(services, world.users.designer)

    def start(n: int = 1, amount: int = 3, user=None) -> int:
        return services.start_process(KEY, user or world.users.designer, {"item": f"打印纸{n}", "amount": amount},
                                      f"PO-{n}").id
    return start


@pytest.fixture
def admin(services, world):
    """An administrator at the school: (user id, bearer token)."""
    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, world.orgs.school)
        user_id = accounts.add_user(s, "admin", "管理员", "pw-admin", school, services.clock.now(),
                                    roles=[("admin", school)]).id
        uow.commit()
    return user_id, tokens.create_token(services, user_id, "tests")[1]


def _as_admin(api, admin, method, path, **kwargs):
    return api.client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {admin[1]}"}, **kwargs)


def _statements(services):
    engine = services.session_factory.kw["bind"]
    seen = []

    def count(*_args):
        seen.append(1)
    return engine, count, seen


# -- one inbox ------------------------------------------------------------------------------------------------
def test_the_api_inbox_holds_tasks_of_every_process_with_process_business_key_and_unit(api, purchase,
                                                                                      report_hazard, world):
    hazard = report_hazard()
    instance_id = purchase(1)
    groups = api.call("security", "GET", "/tasks?view=groups").get_json()
    by_instance = {t["instance_id"]: t for t in groups["items"]}
    task = by_instance[instance_id]
    assert (task["process_key"], task["process_name"], task["business_key"], task["hazard"], task["campaign"]) == (
        KEY, "采购申请（表单）", "PO-1", None, None)
    assert (task["unit_id"], task["unit_name"]) == (world.orgs.school, "某职业学院")
    hazard_task = next(t for t in groups["items"] if t["hazard_id"] == hazard.id)
    assert hazard_task["process_key"] == "hazard_rectification"
    assert hazard_task["hazard"]["id"] == hazard.id and hazard_task["business_key"] == f"hazard:{hazard.id}"

    # `all` lists open tasks of every process in scope: the school's (and the bureau above it), not another school's.
    for user, sees in (("security", True), ("supervisor", True), ("leader", True), ("outsider", False)):
        listed = api.call(user, "GET", "/tasks?view=all&per_page=200").get_json()["items"]
        assert (instance_id in {t["instance_id"] for t in listed}) is sees, user

    # Filters keep working, and apply to every process: by process, by unit; hazard-only filters leave it out.
    only = api.call("security", "GET", f"/tasks?view=groups&process={KEY}").get_json()["items"]
    assert [t["instance_id"] for t in only] == [instance_id]
    unit = api.call("security", "GET", f"/tasks?view=groups&unit_id={world.orgs.school}").get_json()["items"]
    assert instance_id in {t["instance_id"] for t in unit}
    fire = api.call("security", "GET", "/tasks?view=groups&category=消防").get_json()["items"]
    assert instance_id not in {t["instance_id"] for t in fire}

    # The task opens from the inbox for whoever it is offered to, and completes.
    assert api.call("security", "GET", f"/tasks/{task['id']}").status_code == 200
    assert api.call("outsider", "GET", f"/tasks/{task['id']}").status_code == 404


def test_the_inbox_pages_by_keyset_cursor_without_gaps_or_repeats(api, purchase):
    started = {purchase(n) for n in range(1, 6)}
    first = api.call("security", "GET", f"/tasks?view=groups&process={KEY}&per_page=2").get_json()
    assert first["total"] == 5 and len(first["items"]) == 2 and first["next_cursor"]
    seen, cursor = [t["instance_id"] for t in first["items"]], first["next_cursor"]
    while cursor:
        page = api.call("security", "GET", f"/tasks?view=groups&process={KEY}&per_page=2&cursor={cursor}").get_json()
        seen += [t["instance_id"] for t in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(started) and len(seen) == len(set(seen))
    # The same order as numbered pages.
    numbered = [t["instance_id"] for p in (1, 2, 3) for t in api.call(
        "security", "GET", f"/tasks?view=groups&process={KEY}&per_page=2&page={p}").get_json()["items"]]
    assert numbered == seen
    bad = api.call("security", "GET", "/tasks?view=groups&cursor=nonsense")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "cursor"


def test_an_inbox_page_costs_the_same_statements_for_one_task_or_many(api, purchase, services):
    engine, count, seen = _statements(services)
    purchase(1)
    assert api.call("security", "GET", "/tasks?view=groups").status_code == 200  # warm: first connection, caches
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert api.call("security", "GET", "/tasks?view=groups").status_code == 200
        one = len(seen)
        for n in range(2, 8):
            purchase(n)
        seen.clear()
        assert len(api.call("security", "GET", "/tasks?view=groups").get_json()["items"]) >= 7
        assert len(seen) == one
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_an_instance_list_costs_the_same_statements_for_one_instance_or_many(api, purchase, services):
    engine, count, seen = _statements(services)
    purchase(1)
    assert api.call("security", "GET", "/process-instances").status_code == 200  # warm
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert api.call("security", "GET", "/process-instances").status_code == 200
        one = len(seen)
        for n in range(2, 8):
            purchase(n)
        seen.clear()
        assert len(api.call("security", "GET", "/process-instances").get_json()["items"]) >= 7
        assert len(seen) == one
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_cli_inbox_names_the_process_of_every_task(api, purchase, database_url):
    instance_id = purchase(4)
    out = CliRunner().invoke(main, ["--database-url", database_url, "tasks", "--user", "security", "--view", "groups"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if f"(instance {instance_id})" in x)
    assert "审批采购" in line and "采购申请（表单）" in line and "PO-4" in line and "@某职业学院" in line


# -- instances through the API ---------------------------------------------------------------------------------
def test_instances_are_listed_and_shown_to_those_who_may_see_them(api, purchase, world):
    ids = [purchase(n) for n in range(1, 4)]
    listed = api.call("designer", "GET", f"/process-instances?key={KEY}&limit=2").get_json()
    assert [i["id"] for i in listed["items"]] == ids[::-1][:2] and listed["next_cursor"] == ids[1]
    rest = api.call("designer", "GET", f"/process-instances?key={KEY}&limit=2&after={listed['next_cursor']}").get_json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert rest["items"][0]["starter"] == "designer" and rest["items"][0]["business_key"] == "PO-1"

    # The security office has a task in each; a college's staff member has none and started none.
    assert {i["id"] for i in api.call("security", "GET", "/process-instances").get_json()["items"]} >= set(ids)
    assert api.call("staff", "GET", f"/process-instances?key={KEY}").get_json()["items"] == []
    assert api.call("staff", "GET", f"/process-instances/{ids[0]}").status_code == 404

    detail = api.call("designer", "GET", f"/process-instances/{ids[0]}").get_json()
    assert (detail["key"], detail["status"], detail["active"]) == (KEY, "running", ["approve"])
    assert {"start", "price"} <= set(detail["done"])
    assert detail["variables"]["total"] == 6 and detail["variables"]["item"] == "打印纸1"
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["approve"]
    assert [e["kind"] for e in detail["history"]][:1] == ["ProcessStarted"]
    assert detail["can_cancel"] is False
    assert detail["incidents"] in (None, [])  # None while the schema has no incidents table; [] once it has
    # Whoever has a task sees the instance, but not its variables.
    assert api.call("security", "GET", f"/process-instances/{ids[0]}").get_json()["variables"] is None


def test_an_administrator_cancels_an_instance_with_a_reason(api, purchase, admin, services, database_url):
    instance_id = purchase(1)
    assert api.call("designer", "POST", f"/process-instances/{instance_id}/cancel",
                    json={"reason": "重复申请"}).status_code == 403
    assert api.call("staff", "POST", f"/process-instances/{instance_id}/cancel",
                    json={"reason": "x"}).status_code == 404
    assert _as_admin(api, admin, "POST", f"/process-instances/{instance_id}/cancel", json={}).status_code == 422
    assert _as_admin(api, admin, "POST", f"/process-instances/{instance_id}/cancel",
                     json={"reason": "   "}).status_code == 422

    done = _as_admin(api, admin, "POST", f"/process-instances/{instance_id}/cancel", json={"reason": "重复申请"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "cancelled"
    with services.uow() as uow:
        s = uow.session
        assert s.get(ProcessInstance, instance_id).next_timer_at is None
        assert s.scalars(select(HumanTask.state).where(HumanTask.instance_id == instance_id)).all() == ["cancelled"]
    groups = api.call("security", "GET", f"/tasks?view=groups&process={KEY}").get_json()
    assert groups["total"] == 0
    detail = _as_admin(api, admin, "GET", f"/process-instances/{instance_id}").get_json()
    assert detail["active"] == [] and detail["cancel_reason"] == "重复申请" and detail["can_cancel"] is False
    assert [e["kind"] for e in detail["history"]][-2:] == ["TaskCancelled", "InstanceCancelled"]
    again = _as_admin(api, admin, "POST", f"/process-instances/{instance_id}/cancel", json={"reason": "再次"})
    assert again.status_code == 409

    other = purchase(2)
    runner = CliRunner()
    refused = runner.invoke(main, ["--database-url", database_url, "cancel", str(other), "--reason", "x",
                                   "--user", "designer"])
    assert refused.exit_code != 0 and "administrator" in refused.output
    ok = runner.invoke(main, ["--database-url", database_url, "cancel", str(other), "--reason", "作废",
                              "--user", "admin"])
    assert ok.exit_code == 0, ok.output
    assert f"cancelled instance {other} (cancelled)" in ok.output


def test_the_openapi_document_describes_the_instance_endpoints(api):
    spec = api.client.get("/api/v1/openapi.json").get_json()
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/process-instances"])
    assert "get" in spec["paths"]["/api/v1/process-instances/{instance_id}"]
    assert "post" in spec["paths"]["/api/v1/process-instances/{instance_id}/cancel"]
    params = {p["name"] for p in spec["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert {"cursor", "process"} <= params


# -- pages ----------------------------------------------------------------------------------------------------
def test_the_catalogue_lists_what_the_user_may_start_and_the_start_form_keeps_input(login, purchase, services):
    designer = login("designer")
    html = designer.get("/processes").get_data(as_text=True)
    assert 'data-testid="start-purchase_form"' in html and "采购申请（表单）" in html
    assert 'data-testid="start-purchase_form"' not in login("staff").get("/processes").get_data(as_text=True)
    assert login("staff").get(f"/processes/{KEY}/start").status_code == 404

    form = designer.get(f"/processes/{KEY}/start").get_data(as_text=True)
    assert 'id="f-item"' in form and 'id="f-amount"' in form and 'name="csrf_token"' in form

    bad = designer.post(f"/processes/{KEY}/start", data={"item": "订书机", "amount": "", "business_key": "PO-77"})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert field_error(page, "amount") and 'value="订书机"' in page and 'value="PO-77"' in page
    reserved = designer.post(f"/processes/{KEY}/start", data={"item": "订书机", "amount": "2",
                                                              "business_key": "hazard:1"})
    assert reserved.status_code == 422 and field_error(reserved.get_data(as_text=True), "business_key")
    with services.uow() as uow:
        assert uow.session.query(ProcessInstance).filter(ProcessInstance.business_key.like("PO-%")).count() == 0

    started = designer.post(f"/processes/{KEY}/start", data={"item": "订书机", "amount": "2", "business_key": "PO-77"})
    assert started.status_code == 303
    instance_id = int(re.search(r"/instances/(\d+)$", started.headers["Location"]).group(1))
    page = designer.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert 'data-testid="bpmn-canvas"' in page and 'data-testid="open-task-approve"' in page
    assert 'data-testid="variables"' in page and "PO-77" in page and "cancel-form" not in page
    diagram = designer.get(f"/instances/{instance_id}/diagram").get_json()
    assert diagram["active"] == ["approve"] and "purchase_form" in diagram["xml"]
    listed = designer.get(f"/processes/{KEY}/instances").get_data(as_text=True)
    assert f'data-testid="instance-{instance_id}"' in listed


def test_the_instance_page_is_scoped_and_an_administrator_cancels_there(login, purchase, admin):
    instance_id = purchase(5)
    security = login("security")
    page = security.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert 'data-testid="open-task-approve"' in page and 'data-testid="variables"' not in page
    inbox = security.get("/inbox?view=groups").get_data(as_text=True)
    assert "采购申请（表单）" in inbox and "PO-5" in inbox and f"/instances/{instance_id}" in inbox
    assert f'<option value="{KEY}"' in inbox
    only = security.get(f"/inbox?view=groups&process={KEY}").get_data(as_text=True)
    hazards_only = security.get("/inbox?view=groups&process=hazard_rectification").get_data(as_text=True)
    assert "PO-5" in only and "PO-5" not in hazards_only
    assert login("staff").get(f"/instances/{instance_id}").status_code == 404
    assert login("staff").get(f"/instances/{instance_id}/diagram").status_code == 404

    boss = login("admin")
    assert 'data-testid="cancel-form"' in boss.get(f"/instances/{instance_id}").get_data(as_text=True)
    refused = security.post(f"/instances/{instance_id}/cancel", data={"reason": "不要了"}, follow_redirects=True)
    html = refused.get_data(as_text=True)
    assert "取消未成功" in html and 'data-testid="cancel-reason"' not in html
    done = boss.post(f"/instances/{instance_id}/cancel", data={"reason": "不要了"}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert 'data-testid="cancel-reason"' in html and "不要了" in html and 'data-testid="cancel-form"' not in html


def test_campaign_tasks_name_their_campaign_in_the_inbox(api, services, world):
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "小清单", services.clock.now())
        uow.commit()
    campaign = Campaigns(services).create_campaign(world.users.security, "校园安全专项整治", template.id,
                                                   [world.orgs.college, world.orgs.logistics], STAGES)
    listed = [t for view in ("mine", "groups") for t in api.call("staff", "GET", f"/tasks?view={view}").get_json()["items"]]
    mine = [t for t in listed if t["campaign"]]
    assert mine, listed
    assert {(t["campaign"]["id"], t["campaign"]["title"], t["hazard"]) for t in mine} == {
        (campaign.id, "校园安全专项整治", None)}
    assert {t["business_key"] for t in mine} == {f"campaign:{campaign.id}:unit:{world.orgs.college}"}
    assert all(t["unit_id"] == world.orgs.college for t in mine)
    filtered = [t for view in ("mine", "groups") for t in api.call(
        "staff", "GET", f"/tasks?view={view}&campaign_id={campaign.id}").get_json()["items"]]
    assert {t["id"] for t in filtered} == {t["id"] for t in mine}
    assert [t for view in ("mine", "groups") for t in api.call(
        "staff", "GET", f"/tasks?view={view}&campaign_id={campaign.id + 1}").get_json()["items"]] == []
