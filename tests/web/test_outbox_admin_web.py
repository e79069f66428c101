"""`rectiflow outbox list|retry` and the 发送失败的通知 page: administrators see failed rows and queue them again."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from engine.infra.config import Settings
from engine.org import accounts, tokens
from engine.org.models import OrgNode, User
from engine.process.models import OutboxMessage
from web.app import create_app

from .api_fixtures import api_app  # noqa: F401
from .cli_fixtures import cli  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401


def _row(services, status="failed", error="SMTPRecipientsRefused: <b>bad</b> address", **recipient) -> int:
    with services.uow() as uow:
        row = OutboxMessage(created_at=services.clock.now(), kind="task_overdue", channel="email", status=status,
                            attempts=5 if status == "failed" else 0, next_attempt_at=services.clock.now(),
                            last_error=error if status == "failed" else None,
                            payload={"task_id": 7, "name": "落实整改"}, **recipient)
        uow.session.add(row)
        uow.commit()
        return row.id


def _status(services, row_id) -> tuple[str, int]:
    with services.uow() as uow:
        row = uow.session.get(OutboxMessage, row_id)
        return row.status, row.attempts


def test_outbox_list_shows_failed_rows_with_their_error_and_retry_queues_them(services, world, cli):
    failed = [_row(services, recipient_id=world.users.staff) for _ in range(3)]
    pending = _row(services, "pending", recipient_id=world.users.head)
    listing = cli("outbox", "list")
    assert all(f"{i:>7}  email" in listing for i in failed) and f"{pending:>7}" not in listing
    assert "error: SMTPRecipientsRefused" in listing and "attempts=5" in listing
    assert f"{pending:>7}" in cli("outbox", "list", "--state", "pending")
    assert "no outbox rows in state sent" in cli("outbox", "list", "--state", "sent")

    assert f"outbox {failed[0]} queued again" in cli("outbox", "retry", str(failed[0]))
    assert _status(services, failed[0]) == ("pending", 0)
    out = cli("outbox", "retry", str(failed[0]), str(failed[1]), code=2)
    assert f"outbox {failed[0]} is not failed" in out and f"outbox {failed[1]} queued again" in out
    assert "1 failed row(s) queued again" in cli("outbox", "retry", "--all-failed")
    assert {_status(services, i) for i in failed} == {("pending", 0)}
    assert "no outbox rows in state failed" in cli("outbox", "list")
    assert "--all-failed" in cli("outbox", "retry", code=2)
    assert "outbox" in cli("--help") and "--all-failed" in cli("outbox", "retry", "--help")


@pytest.fixture
def admin(services, world):
    with services.uow() as uow:
        school = uow.session.get(OrgNode, world.orgs.school)
        accounts.add_user(uow.session, "admin1", "管理员", "pw-admin1", school, services.clock.now(),
                          roles=[("admin", school)])
        uow.commit()
    return "admin1"


def test_the_failed_notifications_page_is_for_administrators_in_their_scope(services, world, login, admin):
    mine = _row(services, recipient_id=world.users.staff)
    foreign = _row(services, recipient_id=world.users.outsider)
    for name in ("staff", "designer", "security"):
        client = login(name)
        assert client.get("/outbox").status_code == 403
        assert client.post(f"/outbox/{mine}/retry").status_code == 403
        assert client.post("/outbox/retry-all").status_code == 403
        assert 'data-testid="nav-outbox"' not in client.get("/inbox").get_data(as_text=True)
    assert _status(services, mine)[0] == "failed"

    client = login(admin)
    page = client.get("/outbox")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-store"
    assert 'data-testid="nav-outbox"' in html and "发送失败的通知" in html
    assert f'data-testid="outbox-{mine}"' in html and f'data-testid="outbox-{foreign}"' not in html
    assert "SMTPRecipientsRefused: &lt;b&gt;bad&lt;/b&gt; address" in html, "the error, escaped"
    assert "staff" in html and f'action="/outbox/{mine}/retry"' in html

    assert client.post(f"/outbox/{foreign}/retry").status_code == 404
    assert _status(services, foreign)[0] == "failed"
    done = client.post(f"/outbox/{mine}/retry", follow_redirects=True)
    assert "已重新加入发送队列" in done.get_data(as_text=True) and 'data-testid="no-failed-outbox"' in \
        done.get_data(as_text=True)
    assert _status(services, mine) == ("pending", 0)
    again = client.post(f"/outbox/{mine}/retry", follow_redirects=True).get_data(as_text=True)
    assert "该通知不是发送失败状态" in again

    other = _row(services, recipient_role="department_staff", recipient_org_id=world.orgs.college)
    assert "已将 1 条通知重新加入发送队列" in client.post("/outbox/retry-all", follow_redirects=True).get_data(
        as_text=True)
    assert _status(services, other)[0] == "pending" and _status(services, foreign)[0] == "failed"

    client.post("/language", data={"lang": "en"})
    assert "Failed notifications" in client.get("/outbox").get_data(as_text=True)


def test_the_page_asks_for_a_csrf_token(services, world, admin):
    mine = _row(services, recipient_id=world.users.staff)
    client = create_app(Settings(secret_key="test-secret"), services=services, config={"TESTING": True}).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"username": admin, "password": "pw-admin1", "csrf_token": token}
                       ).status_code == 302
    assert client.post(f"/outbox/{mine}/retry").status_code == 400
    html = client.get("/outbox").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post(f"/outbox/{mine}/retry", data={"csrf_token": token}).status_code == 303
    assert _status(services, mine)[0] == "pending"


def test_the_outbox_api_lists_and_retries_failed_rows_for_administrators(services, world, admin, api_app):
    mine = _row(services, recipient_id=world.users.staff)
    foreign = _row(services, recipient_id=world.users.outsider)
    with services.uow() as uow:
        admin_id = uow.session.scalar(select(User.id).where(User.username == admin))
    headers = {name: {"Authorization": f"Bearer {tokens.create_token(services, user_id, 'tests')[1]}"}
               for name, user_id in (("admin", admin_id), ("staff", world.users.staff),
                                     ("designer", world.users.designer))}
    client = api_app.test_client()
    for name in ("staff", "designer"):
        assert client.get("/api/v1/outbox", headers=headers[name]).status_code == 403
        assert client.post(f"/api/v1/outbox/{mine}/retry", headers=headers[name]).status_code == 403
    listing = client.get("/api/v1/outbox", headers=headers["admin"])
    assert listing.status_code == 200
    [row] = listing.get_json()
    assert (row["id"], row["status"], row["attempts"]) == (mine, "failed", 5)
    assert row["last_error"].startswith("SMTPRecipientsRefused")
    assert client.get("/api/v1/outbox?state=bogus", headers=headers["admin"]).status_code == 422

    assert client.post(f"/api/v1/outbox/{foreign}/retry", headers=headers["admin"]).status_code == 404
    retried = client.post(f"/api/v1/outbox/{mine}/retry", headers=headers["admin"])
    assert retried.status_code == 200 and (retried.get_json()["status"], retried.get_json()["attempts"]) == (
        "pending", 0)
    again = client.post(f"/api/v1/outbox/{mine}/retry", headers=headers["admin"])
    assert again.status_code == 409 and again.get_json()["code"] == "conflict"
    assert client.post("/api/v1/outbox/2147483648/retry", headers=headers["admin"]).status_code == 404
    assert [r["id"] for r in client.get("/api/v1/outbox?state=pending", headers=headers["admin"]).get_json()] \
        == [mine]

    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    assert {"/outbox", "/outbox/{message_id}/retry"} <= {p.removeprefix("/api/v1") for p in spec["paths"]}
