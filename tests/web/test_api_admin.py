"""/api/v1/orgs and /api/v1/users: administrators manage their part of the tree and its people; others get 403/404."""
from __future__ import annotations

from engine.org import tokens
from tests.admins import add_admin
from tests.web.api_fixtures import api, api_app  # noqa: F401  (fixtures)


def test_orgs_and_users_round_trip_within_scope(services, world, api):
    admin_id = add_admin(services, world)
    headers = {"Authorization": f"Bearer {tokens.create_token(services, admin_id, 't')[1]}"}
    client = api.client
    listed = client.get("/api/v1/orgs", headers=headers).json
    assert {o["id"] for o in listed} >= {world.orgs.school, world.orgs.college}
    assert world.orgs.other_school not in {o["id"] for o in listed}
    created = client.post("/api/v1/orgs", headers=headers, json={
        "kind": "unit", "name": "心理健康中心", "code": "s-xl", "parent_id": world.orgs.school,
        "unit_type": "office"})
    assert created.status_code == 201, created.json
    unit_id = created.json["id"]
    assert client.post("/api/v1/orgs", headers=headers, json={
        "kind": "unit", "name": "x", "code": "s-xl", "parent_id": world.orgs.school}).status_code == 422
    assert client.post("/api/v1/orgs", headers=headers, json={
        "kind": "unit", "name": "x", "code": "o-x", "parent_id": world.orgs.other_school}).status_code == 404
    patched = client.patch(f"/api/v1/orgs/{unit_id}", headers=headers, json={"short_name": "心理中心"})
    assert patched.json["short_name"] == "心理中心"
    refused = client.patch(f"/api/v1/orgs/{world.orgs.college}", headers=headers, json={"active": False})
    assert refused.status_code == 409 and "须先移交" in refused.json["message"]
    user = client.post("/api/v1/users", headers=headers, json={
        "username": "xl1", "display_name": "心理老师", "org_id": unit_id, "employee_no": "X100",
        "roles": [{"role": "department_staff", "org_id": unit_id}]})
    assert user.status_code == 201 and user.json["must_change_password"] is True
    grant = client.post(f"/api/v1/users/{user.json['id']}/grants", headers=headers,
                        json={"role": "department_head", "org_id": unit_id})
    assert grant.status_code == 201
    assert client.delete(f"/api/v1/users/{user.json['id']}/grants/{grant.json['id']}",
                         headers=headers).status_code == 204
    off = client.patch(f"/api/v1/users/{user.json['id']}", headers=headers, json={"active": False})
    assert off.json["active"] is False
    assert client.get(f"/api/v1/users/{world.users.outsider}", headers=headers).status_code == 404
    assert [u["username"] for u in client.get("/api/v1/users?q=X100&active=false", headers=headers).json] == ["xl1"]
    # Not an administrator: 403.
    assert api.call("security", "GET", "/orgs").status_code == 403
    assert api.call("security", "POST", "/users", json={"username": "a", "display_name": "a",
                                                        "org_id": world.orgs.school}).status_code == 403


def test_grants_list_who_holds_what_where_within_scope(services, world, api):
    """GET /api/v1/grants: the grants at nodes the admin administers, filterable by role and org, paged by id."""
    admin_id = add_admin(services, world)
    headers = {"Authorization": f"Bearer {tokens.create_token(services, admin_id, 't')[1]}"}
    client = api.client
    held = client.get("/api/v1/grants", headers=headers).json
    assert held and all(g["org_id"] != world.orgs.other_school for g in held)
    assert world.users.outsider not in {g["user_id"] for g in held}
    admins = client.get("/api/v1/grants?role=admin", headers=headers).json
    assert [(g["user_id"], g["role"]) for g in admins] == [(admin_id, "admin")]
    college = client.get(f"/api/v1/grants?org_id={world.orgs.college}", headers=headers).json
    assert college and {g["org_id"] for g in college} == {world.orgs.college}
    first = client.get("/api/v1/grants?limit=1", headers=headers).json
    rest = client.get(f"/api/v1/grants?after_id={first[0]['id']}", headers=headers).json
    assert [g["id"] for g in first + rest] == [g["id"] for g in held]
    assert api.call("security", "GET", "/grants").status_code == 403


def test_a_password_reset_gives_a_one_time_code_that_forces_a_new_password(services, world, api, api_app):
    admin_id = add_admin(services, world)
    headers = {"Authorization": f"Bearer {tokens.create_token(services, admin_id, 't')[1]}"}
    assert api.client.post(f"/api/v1/users/{world.users.outsider}/password-reset",
                           headers=headers).status_code == 404
    reset = api.client.post(f"/api/v1/users/{world.users.staff}/password-reset", headers=headers)
    assert reset.status_code == 201 and reset.json["username"] == "staff"
    api_app.config["WTF_CSRF_ENABLED"] = False  # the sign-in form's token is not what this test is about
    browser = api_app.test_client()
    assert browser.post("/login", data={"username": "staff", "password": "pw-staff"}).status_code == 401
    assert browser.post("/login", data={"username": "staff", "password": reset.json["code"]}).status_code == 302
    assert browser.get("/hazards/new").headers["Location"].endswith("/profile")
    # Until the new password is chosen the API refuses too: the user's old token and the browser session.
    refused = api.call("staff", "GET", "/tasks")
    assert refused.status_code == 403 and refused.json["code"] == "password_change_required"
    assert browser.get("/api/v1/tasks").json["code"] == "password_change_required"
    new = "Brand-new-pass-2026"
    browser.post("/profile/password", data={"old_password": reset.json["code"], "new_password": new,
                                            "new_password2": new})
    assert api.call("staff", "GET", "/tasks").status_code == 200
    assert browser.get("/api/v1/tasks").status_code == 200
