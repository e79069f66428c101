"""组织机构, 人员管理 and 批量导入 pages: scoped to the administrator's nodes, every change through a CSRF-protected form."""
from __future__ import annotations

import io
import json

from sqlalchemy import select

from engine.infra.config import Settings
from engine.org.models import OrgNode, User
from tests.admins import add_admin
from tests.web.ui_fixtures import app, login  # noqa: F401  (fixtures)
from web.app import create_app


def test_an_admin_manages_the_school_tree_and_its_people(services, world, app, login):
    add_admin(services, world)
    client = login("admin")
    assert 'data-testid="nav-orgs"' in client.get("/inbox").get_data(as_text=True)
    tree = client.get("/orgs").get_data(as_text=True)
    assert "机电工程学院" in tree and "另一学院" not in tree  # only the admin's school
    assert client.get(f"/orgs/{world.orgs.other_school}").status_code == 404
    assert client.get(f"/people/{world.users.outsider}").status_code == 404
    response = client.post(f"/orgs/{world.orgs.school}/children",
                           data={"kind": "unit", "unit_type": "office", "name": "团委<b>", "code": "s-tw"})
    assert response.status_code == 303
    with services.uow() as uow:
        unit = uow.session.scalars(select(OrgNode).where(OrgNode.code == "s-tw")).one()
        assert unit.unit_type == "office"
    assert "团委&lt;b&gt;" in client.get("/orgs").get_data(as_text=True)
    # A code already used: refused with the field's message, nothing added.
    client.post(f"/orgs/{world.orgs.school}/children", data={"kind": "unit", "name": "重复", "code": "s-tw"})
    assert "代码 s-tw 已被使用" in client.get(f"/orgs/{world.orgs.school}").get_data(as_text=True)
    # A unit with people cannot be deactivated: the page says what is left.
    client.post(f"/orgs/{world.orgs.college}/active", data={"active": "0"})
    page = client.get(f"/orgs/{world.orgs.college}").get_data(as_text=True)
    assert 'data-testid="open-work"' in page and "须先移交" in page
    # People: create one with a role, then deactivate them.
    client.post("/people", data={"display_name": "新同事", "username": "newbie", "employee_no": "E9",
                                 "org_id": unit.id, "role": "department_staff", "password": "Init-pass-1"})
    with services.uow() as uow:
        newbie = uow.session.scalars(select(User).where(User.username == "newbie")).one()
        assert [(g.role, g.org_id) for g in newbie.grants] == [("department_staff", unit.id)]
    assert "新同事" in client.get("/people?q=E9").get_data(as_text=True)
    client.post(f"/people/{newbie.id}/active", data={"active": "0"})
    with services.uow() as uow:
        assert uow.session.get(User, newbie.id).active is False
    # The newcomer signs in once reactivated, and must change the password first.
    client.post(f"/people/{newbie.id}/active", data={"active": "1"})
    other = app.test_client()
    other.post("/login", data={"username": "E9", "password": "Init-pass-1"})
    assert other.get("/inbox").headers["Location"].endswith("/profile")


def test_import_page_lists_every_bad_line_and_writes_nothing(services, world, app, login):
    add_admin(services, world)
    client = login("admin")
    school = "p-c-b-s"
    bad = f"上级代码,代码,名称,简称,类型\n{school},s-a,甲学院,,二级学院\n{school},s-a,乙,,二级学院\nnowhere,s-c,丙,,单位\n"
    page = client.post("/admin/import", data={"what": "orgs", "file": (io.BytesIO(bad.encode()), "o.csv")},
                       content_type="multipart/form-data")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "第 3 行 代码" in html and "第 4 行 上级代码" in html
    with services.uow() as uow:
        assert uow.session.scalars(select(OrgNode).where(OrgNode.code == "s-a")).first() is None
    good = f"上级代码,代码,名称,简称,类型\n{school},s-a,甲学院,甲院,二级学院\ns-a,s-a-g,甲学院网格,,网格\n"
    page = client.post("/admin/import", data={"what": "orgs", "file": (io.BytesIO(good.encode()), "o.csv")},
                       content_type="multipart/form-data")
    assert page.status_code == 200 and 'data-testid="import-done"' in page.get_data(as_text=True)
    roster = "姓名,工号,手机,邮箱,单位,角色\n赵一,T001,13700000001,,s-a,部门工作人员、部门负责人\n"
    page = client.post("/admin/import", data={"what": "roster", "file": (io.BytesIO(roster.encode()), "r.csv")},
                       content_type="multipart/form-data")
    assert 'data-testid="credentials"' in page.get_data(as_text=True)


def test_the_page_script_gets_the_import_as_progress_lines_then_the_results(services, world, app, login):
    """Accept: application/x-ndjson (the page's script): one line per batch for the progress bar, then the results."""
    add_admin(services, world)
    client = login("admin")
    people = "".join(f"人{n},P{n:03},,,s-jd,部门工作人员\n" for n in range(60))
    response = client.post("/admin/import", headers={"Accept": "application/x-ndjson"},
                           data={"what": "roster", "file": (io.BytesIO(("姓名,工号,手机,邮箱,单位,角色\n" + people)
                                                                       .encode()), "r.csv")},
                           content_type="multipart/form-data")
    assert response.mimetype == "application/x-ndjson" and response.headers["Cache-Control"] == "no-store"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    progress, last = lines[:-1], lines[-1]
    assert [p["done"] for p in progress] == [25, 50, 60] and {p["total"] for p in progress} == {60}
    assert last["ok"] is True and 'data-testid="credentials"' in last["html"] and "P059" in last["html"]
    # A bad file: no progress, the errors by line, nothing written.
    bad = client.post("/admin/import", headers={"Accept": "application/x-ndjson"},
                      data={"what": "roster", "file": (io.BytesIO("姓名,工号,手机,邮箱,单位,角色\n某,P000,,,nowhere,部门工作人员\n"
                                                                  .encode()), "r.csv")},
                      content_type="multipart/form-data")
    (only,) = [json.loads(line) for line in bad.get_data(as_text=True).splitlines()]
    assert only["ok"] is False and "第 2 行" in only["html"]
    with services.uow() as uow:
        assert len(list(uow.session.scalars(select(User.id).where(User.employee_no.like("P%"))))) == 60


def test_non_admins_get_403_and_forms_need_csrf(services, world, login, tmp_path):
    assert login("security").get("/orgs").status_code == 403
    assert login("security").get("/people").status_code == 403
    add_admin(services, world)
    strict = create_app(Settings(secret_key="test-secret"), services=services, config={"TESTING": True})
    client = strict.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": "admin", "password": "pw-admin", "csrf_token": token})
    response = client.post(f"/orgs/{world.orgs.school}/children", data={"kind": "unit", "name": "x", "code": "x"})
    assert response.status_code == 400
