"""首次运行 (/setup): on an empty database the first administrator is created in the browser, guarded by the setup
code; once an administrator exists the page is gone."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.admin import first_run
from engine.infra.config import Settings
from engine.org.models import OrgNode, RoleGrant, User
from tests.web.cli_fixtures import cli  # noqa: F401  (fixture)
from web.app import create_app

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SECRET = "first-run-secret"


@pytest.fixture
def app(services, tmp_path):
    return create_app(Settings(secret_key=SECRET, upload_dir=tmp_path / "uploads"), services=services,
                      config={"TESTING": True, "WTF_CSRF_ENABLED": False})


def _form(**overrides) -> dict:
    return {"setup_code": first_run.setup_code(SECRET), "username": "root", "display_name": "局管理员",
            "password": "Root-pass-2026", "password2": "Root-pass-2026", "kind": "school",
            "name": "兰州第一中学", "code": "lz-1z", "short_name": "兰一中", **overrides}


def _counts(services) -> tuple[int, int]:
    with services.uow() as uow:
        return (uow.session.scalar(select(func.count()).select_from(User)),
                uow.session.scalar(select(func.count()).select_from(OrgNode)))


def test_the_first_admin_is_created_on_the_page_and_then_it_closes(app, services):
    client = app.test_client()
    assert "首次运行：创建管理员" in client.get("/login").get_data(as_text=True)
    assert client.get("/setup").status_code == 200
    # Refusals leave nothing behind, and say why.
    for bad, text in ((_form(setup_code="0000-0000-0000"), "设置码不正确"), (_form(password2="Other-pass-2026"), "不一致"),
                      (_form(password="password1", password2="password1"), "太容易被猜到"),
                      (_form(name=""), "名称"), (_form(kind="grid"), "顶层组织须为")):
        refused = client.post("/setup", data=bad)
        assert refused.status_code == 422 and text in refused.get_data(as_text=True), text
        assert _counts(services) == (0, 0)
    done = client.post("/setup", data=_form())
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/import")
    assert "兰州第一中学" in client.get("/orgs").get_data(as_text=True)  # signed in as the new admin
    with services.uow() as uow:
        root = uow.session.scalars(select(User).where(User.username == "root")).one()
        assert [(g.role, g.org_id) for g in root.grants] == [
            ("admin", uow.session.scalars(select(OrgNode.id).where(OrgNode.code == "lz-1z")).one())]
        assert root.must_change_password is False
    assert client.get("/setup").status_code == 404
    again = app.test_client()
    assert again.post("/setup", data=_form(username="root2", code="x2")).status_code == 404
    assert "首次运行" not in again.get("/login").get_data(as_text=True)
    assert _counts(services) == (1, 1)


def test_the_first_admin_can_start_from_the_shipped_org_file(app, services):
    client = app.test_client()
    data = {**_form(), "file": (io.BytesIO((SAMPLES / "bureau-orgs.xlsx").read_bytes()), "bureau-orgs.xlsx")}
    assert client.post("/setup", data=data, content_type="multipart/form-data").status_code == 303
    with services.uow() as uow:
        s = uow.session
        grant = s.scalars(select(RoleGrant).where(RoleGrant.role == "admin")).one()
        assert s.get(OrgNode, grant.org_id).code == "sample-gs"
        assert s.scalar(select(func.count()).select_from(OrgNode)) > 20
        assert s.scalars(select(OrgNode).where(OrgNode.code == "lz-1z")).first() is None  # the file wins


def test_a_broken_org_file_is_refused_by_line_and_nothing_is_made(app, services):
    csv = "上级代码,代码,名称,简称,类型\n,top,某区教育局,,区县\ntop,s1,,,学校\n".encode()
    data = {**_form(), "file": (io.BytesIO(csv), "orgs.csv")}
    refused = app.test_client().post("/setup", data=data, content_type="multipart/form-data")
    assert refused.status_code == 422 and "第 3 行" in refused.get_data(as_text=True)
    assert _counts(services) == (0, 0)


def test_the_setup_code_comes_from_the_command_line_until_an_admin_exists(cli, database_url, services):
    code = cli("admin", "setup-code").strip()
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}", code)
    assert first_run.code_matches(Settings.from_env({"RECTIFLOW_DATABASE_URL": database_url}).secret_key, code)
    cli("admin", "create", "--username", "root", "--name", "管理员", "--password-stdin", "--org-import",
        str(SAMPLES / "bureau-orgs.xlsx"), input_="Root-pass-2026\n")
    assert "/setup is closed" in cli("admin", "setup-code", code=1)


def test_with_the_development_secret_only_this_machine_may_open_it(services, tmp_path):
    dev = create_app(Settings(upload_dir=tmp_path / "uploads"), services=services, config={"TESTING": True})
    client = dev.test_client()
    assert client.get("/setup", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404
    assert client.get("/setup", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
