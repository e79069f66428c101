"""From an empty database: the first admin with the shipped org file (CLI), the shipped roster (API or CLI), and the
imported people sign in, change their forced password and work."""
from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from engine.infra.config import Settings
from engine.org import tokens
from engine.org.models import OrgNode, User
from engine.process.models import Event
from tests.conftest import REPORT
from tests.web.cli_fixtures import cli  # noqa: F401  (fixture)
from web.app import create_app

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def app(services, tmp_path):
    return create_app(Settings(secret_key="test-secret", upload_dir=tmp_path / "uploads"), services=services,
                      config={"TESTING": True, "WTF_CSRF_ENABLED": False})


def _first_admin(cli) -> None:
    out = cli("admin", "create", "--username", "root", "--name", "局管理员", "--password-stdin",
              "--org-import", str(SAMPLES / "bureau-orgs.xlsx"), input_="Root-pass-2026\n")
    assert "admin root created at sample-gs" in out


def _roster_row(services, role_label: str, school: str) -> tuple[str, str]:
    """(工号, 单位) of the first roster row with this role in this school."""
    sheet = openpyxl.load_workbook(io.BytesIO((SAMPLES / "bureau-roster.xlsx").read_bytes()), read_only=True).active
    for name, no, _, _, unit, roles in sheet.iter_rows(min_row=2, values_only=True):
        if unit.startswith(school) and role_label in roles.split("、"):
            return no, unit
    raise AssertionError(role_label)


def _sign_in_and_change(app, username: str, password: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": password}).status_code == 302
    # The forced change: every page leads to the profile until the password is changed.
    response = client.get("/inbox")
    assert response.status_code == 302 and response.headers["Location"].endswith("/profile")
    new = "A-new-pass-2026!"
    client.post("/profile/password", data={"old_password": password, "new_password": new, "new_password2": new})
    assert client.get("/inbox").status_code == 200
    return client


def test_bureau_onboards_through_cli_and_api(services, app, cli, tmp_path):
    _first_admin(cli)
    with services.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(OrgNode)) == 28
        root = s.scalars(select(User).where(User.username == "root")).one()
    token = tokens.create_token(services, root.id, "onboarding")[1]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    # A roster with a bad line is refused whole, with the line numbers.
    bad = tmp_path / "bad-roster.csv"
    bad.write_text("姓名,工号,手机,邮箱,单位,角色\n张三,X1,,,sample-zy-bw,保卫处\n李四,X2,,,nowhere,外星人\n",
                   encoding="utf-8")
    with open(bad, "rb") as handle:
        response = client.post("/api/v1/users/import", headers=headers,
                               data={"file": (handle, "bad-roster.csv")}, content_type="multipart/form-data")
    assert response.status_code == 422
    lines = {e["line"] for e in response.json["errors"]}
    assert lines == {3}
    with open(SAMPLES / "bureau-roster.xlsx", "rb") as handle:
        response = client.post("/api/v1/users/import", headers=headers,
                               data={"file": (handle, "bureau-roster.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert response.json["created"] == 190
    passwords = {c["username"]: c["initial_password"] for c in response.json["credentials"]}
    staff_no, unit = _roster_row(services, "部门工作人员", "sample-zy-jd")
    security_no, _ = _roster_row(services, "保卫处", "sample-zy")
    staff = _sign_in_and_change(app, staff_no, passwords[staff_no])
    with services.uow() as uow:
        unit_id = uow.session.scalars(select(OrgNode.id).where(OrgNode.code == unit)).one()
    response = staff.post("/hazards/new", data={**REPORT, "source": "self_check"}, follow_redirects=False)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]
    security = _sign_in_and_change(app, security_no, passwords[security_no])
    inbox = security.get("/inbox?view=groups").get_data(as_text=True)
    assert REPORT["location"] in inbox
    # The export writes the same layout back: every imported person is in it.
    exported = client.get("/api/v1/users/export", headers=headers)
    sheet = openpyxl.load_workbook(io.BytesIO(exported.data), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows(min_row=2)) == 191  # the roster and the admin
    with services.uow() as uow:
        kinds = set(uow.session.scalars(select(Event.kind).where(Event.kind.like("admin.%"))))
    assert {"admin.orgs_imported", "admin.user_created", "admin.roster_imported"} <= kinds


def test_bureau_onboards_through_the_cli(services, app, cli, tmp_path):
    _first_admin(cli)
    # The first rows of the shipped roster as CSV (an initial password costs one scrypt hash per person).
    sheet = openpyxl.load_workbook(io.BytesIO((SAMPLES / "bureau-roster.xlsx").read_bytes()), read_only=True).active
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(",".join(str(c or "") for c in row)
                                for row in list(sheet.iter_rows(values_only=True))[:9]), encoding="utf-8")
    credentials = tmp_path / "credentials.csv"
    out = cli("user", "import", str(roster), "--credentials", str(credentials))
    assert "8 people imported" in out
    rows = credentials.read_text(encoding="utf-8-sig").splitlines()[1:]
    name, username, password = rows[0].split(",")
    _sign_in_and_change(app, username, password)
    # A second import of the same file changes nothing and names the clashes by line.
    out = cli("user", "import", str(roster), code=1)
    assert "第 2 行 工号" in out
    listed = cli("org", "list", "--under", "sample-yx")
    assert "附属医院" in listed and "[affiliate]" in listed
    exported = tmp_path / "orgs.csv"
    cli("org", "export", "--under", "sample-ag", "-o", str(exported))
    assert exported.read_text(encoding="utf-8-sig").splitlines()[0] == "上级代码,代码,名称,简称,类型"
