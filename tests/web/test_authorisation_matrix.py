"""Role × endpoint: every page and action checks role and organisation scope, including direct URL access.

The hazard lies in the college (机电工程学院) of one school. Who may read it: the college's staff and head, the
school's security office and leader, the county bureau's supervisor. Who may not: another unit's staff in the
same school, and staff of another school. Only the security office may work on the register task.
"""
from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from engine.org import accounts
from engine.org.models import OrgNode

from .ui_fixtures import PNG, app, login  # noqa: F401

READERS = {"staff", "head", "security", "leader", "supervisor", "city_supervisor"}
# city_supervisor sits at the city above the school's bureau; sibling_supervisor at another bureau of that city.
ROLES = ("staff", "head", "logistics_staff", "security", "leader", "supervisor", "outsider", "city_supervisor",
         "sibling_supervisor")
# Answer for someone outside the scope: 404, so ids of other units' records reveal nothing.
HIDDEN = 404


@pytest.fixture
def target(services, world, report_hazard, task_of, tmp_path):
    """A hazard of the college with a photo, a comment and its open register task."""
    hazard = report_hazard(problem="实训室灭火器过期")
    with services.uow() as uow:
        s = uow.session
        city = s.get(OrgNode, s.get(OrgNode, world.orgs.bureau).parent_id)
        sibling = accounts.add_org(s, "county", "邻区教育局", "p-c-n", city)
        sibling_school = accounts.add_org(s, "school", "邻区中学", "p-c-n-s", sibling)
        now = services.clock.now()
        for name, org in (("city_supervisor", city), ("sibling_supervisor", sibling)):
            accounts.add_user(s, name, name, f"pw-{name}", org, now, roles=[("supervisor", org)])
        accounts.add_user(s, "sibling_staff", "sibling_staff", "pw-sibling_staff", sibling_school, now)
        uow.commit()
    from engine.rectification.attachments import add_attachment

    attachment = add_attachment(services, world.users.staff, hazard.id, filename="a.png", data=PNG)
    return SimpleNamespace(hazard=hazard.id, task=task_of(hazard.id, "register_hazard").id,
                           attachment=attachment.id, college=world.orgs.college)


def _expect_read(role):
    return 200 if role in READERS else HIDDEN


ENDPOINTS = {
    # name: (method, url template, data, expected status for a role)
    "hazard_detail": ("GET", "/hazards/{hazard}", None, _expect_read),
    "hazard_diagram": ("GET", "/hazards/{hazard}/diagram", None, _expect_read),
    "task_page": ("GET", "/tasks/{task}", None, _expect_read),
    "attachment": ("GET", "/attachments/{attachment}", None, _expect_read),
    "comment": ("POST", "/hazards/{hazard}/comments", {"body": "看过"},
                lambda r: 303 if r in READERS else HIDDEN),
    "upload": ("POST", "/hazards/{hazard}/attachments", "file",
               lambda r: 303 if r in READERS else HIDDEN),
    "claim": ("POST", "/tasks/{task}/claim", {}, lambda r: 303 if r in READERS else HIDDEN),
    "complete": ("POST", "/tasks/{task}/complete", {"grade": "general"},
                 lambda r: 422 if r == "security" else (403 if r in READERS else HIDDEN)),
    "ledger_xlsx": ("GET", "/ledger.xlsx?unit={college}", None, _expect_read),
}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("role", ROLES)
def test_role_may_use_endpoint_only_within_its_scope(login, target, role, endpoint):
    method, template, data, expected = ENDPOINTS[endpoint]
    client = login(role)
    url = template.format(**vars(target))
    if data == "file":
        response = client.post(url, data={"files": (io.BytesIO(PNG), "b.png")}, content_type="multipart/form-data")
    elif method == "POST":
        response = client.post(url, data=data)
    else:
        response = client.get(url)
    assert response.status_code == expected(role), f"{role} {method} {url}"


@pytest.mark.parametrize("role", ROLES)
def test_claim_succeeds_only_for_the_tasks_group(login, target, task_of, role):
    login(role).post(f"/tasks/{target.task}/claim")
    claimed = task_of(target.hazard, "register_hazard").assignee_id is not None
    assert claimed == (role == "security")


@pytest.mark.parametrize("role", ROLES)
def test_inbox_and_ledger_show_only_hazards_in_scope(login, target, role):
    client = login(role)
    ledger = client.get("/ledger").get_data(as_text=True)
    groups = client.get("/inbox?view=groups").get_data(as_text=True)
    assert ("实训室灭火器过期" in ledger) == (role in READERS), role
    assert ("实训室灭火器过期" in groups) == (role == "security"), role


def test_ledger_of_a_unit_outside_the_scope_is_not_found(login, world):
    client = login("staff")
    assert client.get(f"/ledger.xlsx?unit={world.orgs.logistics}").status_code == HIDDEN
    page = client.get(f"/ledger?unit={world.orgs.logistics}").get_data(as_text=True)
    assert "您没有可查看台账的单位" in page
