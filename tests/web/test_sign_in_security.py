"""Sign-in hardening (issue 15, items 5 and 6): throttling per address, lockout per account, no user enumeration,
sessions and remember cookies that end at logout, a password change or their lifetime, and expiring API tokens."""
from __future__ import annotations

import hashlib
import re
import time
from datetime import timedelta

import pytest
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select, update

from engine.infra.config import Settings
from engine.infra.errors import InvalidFormData
from engine.org import accounts, tokens
from engine.org.models import User
from engine.process.models import OutboxMessage
from web.app import create_app

from .ui_fixtures import app, login  # noqa: F401

ALERT = re.compile(r'<div class="alert alert-danger[^"]*" role="alert">(.*?)</div>', re.S)


def _client(app, address="10.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _post_login(client, username, password, **extra):
    return client.post("/login", data={"username": username, "password": password, **extra})


def _alert(response) -> str:
    return ALERT.search(response.get_data(as_text=True)).group(1)


def _opens_inbox(client) -> bool:
    response = client.get("/inbox")
    assert response.status_code in (200, 302)
    return response.status_code == 200


# -- item 5: throttling, lockout, enumeration ----------------------------------------------------------------------

def test_failed_sign_ins_from_one_address_are_throttled_with_a_chinese_429_page(app, world):
    client = _client(app, "10.0.0.1")
    for i in range(10):  # the default allowance: 10 failures a minute per address (names unknown: no lockout)
        assert _post_login(client, f"nobody{i}", "guess").status_code == 401
    throttled = _post_login(client, "nobody", "guess")
    assert throttled.status_code == 429
    assert "登录尝试过于频繁，请稍后再试。" in throttled.get_data(as_text=True)
    assert int(throttled.headers["Retry-After"]) > 0
    # Even the right password waits out the limit at that address; another address is not affected.
    assert _post_login(client, "staff", "pw-staff").status_code == 429
    assert _post_login(_client(app, "10.0.0.2"), "staff", "pw-staff").status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_is_throttled(services, world):
    app = create_app(Settings(secret_key="test-secret", proxy_hops=1), services=services,
                     config={"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = _client(app, "127.0.0.1")  # every request comes from the proxy

    def attempt(forwarded_for, password="guess"):
        return client.post("/login", data={"username": "nobody", "password": password},
                           headers={"X-Forwarded-For": forwarded_for}).status_code

    assert [attempt("203.0.113.5") for _ in range(11)] == [401] * 10 + [429]
    assert attempt("203.0.113.6") == 401


def test_successful_sign_ins_do_not_use_up_the_allowance(app, world):
    client = _client(app, "10.0.0.3")
    for _ in range(15):
        assert _post_login(client, "staff", "pw-staff").status_code == 302
        client.post("/logout")
    # Only failures count: the address still has its ten, and then it is throttled.
    assert [_post_login(client, f"nobody{i}", "guess").status_code for i in range(11)] == [401] * 10 + [429]


def test_an_account_is_locked_after_five_failures_and_unlocks_after_fifteen_minutes(app, services, world):
    client = _client(app, "10.0.1.1")
    for _ in range(5):
        assert _post_login(client, "staff", "wrong").status_code == 401
    locked = _post_login(client, "staff", "pw-staff")
    assert locked.status_code == 401, "the right password is refused while the account is locked"
    unknown = _post_login(client, "no-such-user", "pw-staff")
    # The page says lockouts exist, with the same words for a locked account and a name that does not exist.
    assert _alert(locked) == _alert(unknown) and "锁定 15 分钟" in _alert(locked)
    with services.uow() as uow:
        user = uow.session.get(User, world.users.staff)
        assert user.locked_until == services.clock.now() + timedelta(minutes=15)
        notices = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "account_locked")))
    assert [(n.recipient_id, n.payload["name"]) for n in notices] == [(world.users.staff, "staff")]
    services.clock.advance(minutes=14, seconds=59)
    assert _post_login(_client(app, "10.0.1.2"), "staff", "pw-staff").status_code == 401
    services.clock.advance(seconds=2)
    assert _post_login(_client(app, "10.0.1.2"), "staff", "pw-staff").status_code == 302
    # Other accounts were never affected.
    assert _post_login(_client(app, "10.0.1.3"), "staff2", "pw-staff2").status_code == 302


def test_a_success_resets_the_failure_count(app, services, world):
    client = _client(app, "10.0.2.1")
    for _ in range(4):
        assert _post_login(client, "head", "wrong").status_code == 401
    assert _post_login(client, "head", "pw-head").status_code == 302
    client.post("/logout")
    client = _client(app, "10.0.2.2")
    for _ in range(4):
        assert _post_login(client, "head", "wrong").status_code == 401
    assert _post_login(client, "head", "pw-head").status_code == 302
    with services.uow() as uow:
        assert uow.session.get(User, world.users.head).locked_until is None


def test_every_sign_in_attempt_costs_exactly_one_scrypt_check(app, services, world, monkeypatch):
    with services.uow() as uow:
        uow.session.execute(update(User).where(User.id == world.users.outsider).values(active=False))
        uow.commit()
    calls = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    attempts = [("no-such-user", "x"), ("outsider", "pw-outsider"), ("leader", "wrong"), ("leader", "pw-leader")]
    for i, (name, password) in enumerate(attempts):
        calls.clear()
        _post_login(_client(app, f"10.0.3.{i}"), name, password)
        assert len(calls) == 1, f"{name}: {len(calls)} scrypt calls"
    for _ in range(5):
        _post_login(_client(app, "10.0.3.9"), "security", "wrong")
    calls.clear()
    assert _post_login(_client(app, "10.0.3.10"), "security", "pw-security").status_code == 401
    assert len(calls) == 1, "a locked account costs the same check"


# -- item 6: sessions that end ---------------------------------------------------------------------------------------

def _cookie(client, name):
    cookie = client.get_cookie(name)
    return cookie.value if cookie is not None else None


def test_logout_ends_the_old_session_cookie_the_remember_cookie_and_other_sessions(app, world):
    browser = _client(app)
    assert _post_login(browser, "staff", "pw-staff", remember="1").status_code == 302
    session_cookie, remember_cookie = _cookie(browser, "session"), _cookie(browser, "remember_token")
    assert session_cookie and remember_cookie
    other_device = _client(app, "10.0.0.9")
    assert _post_login(other_device, "staff", "pw-staff").status_code == 302 and _opens_inbox(other_device)

    assert browser.post("/logout").status_code == 302
    replay_session = _client(app)
    replay_session.set_cookie("session", session_cookie)
    assert not _opens_inbox(replay_session)
    replay_remember = _client(app)
    replay_remember.set_cookie("remember_token", remember_cookie)
    assert not _opens_inbox(replay_remember)
    assert not _opens_inbox(other_device), "logout ends every session of the user"
    # Signing in again works, with a new remember token.
    again = _client(app)
    assert _post_login(again, "staff", "pw-staff", remember="1").status_code == 302 and _opens_inbox(again)
    assert _cookie(again, "remember_token") != remember_cookie


def test_remember_me_is_opt_in_and_the_session_cookie_is_not_permanent(app, world):
    client = _client(app)
    response = _post_login(client, "staff", "pw-staff")
    assert _cookie(client, "remember_token") is None
    session_header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Expires=" not in session_header, "a browser-session cookie, not a 31-day one"
    client = _client(app)
    response = _post_login(client, "staff", "pw-staff", remember="1")
    remember_header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    assert "Max-Age=1209600" in remember_header or "Expires=" in remember_header
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)


def test_a_remember_cookie_is_refused_by_the_server_after_its_lifetime(app, world, monkeypatch):
    browser = _client(app)
    _post_login(browser, "staff", "pw-staff", remember="1")
    remember_cookie = _cookie(browser, "remember_token")
    signed_in_at = time.time()

    def replay(days_later):
        # Wall-clock time moves on (the engine's clock does not bound sessions: a demo's clock may be anywhere).
        monkeypatch.setattr(time, "time", lambda: signed_in_at + days_later * 86400)
        client = _client(app)
        client.set_cookie("remember_token", remember_cookie)
        try:
            return _opens_inbox(client)
        finally:
            monkeypatch.undo()

    assert replay(13)
    assert not replay(14.01), "the cookie's own expiry is not enough: the server bounds it too"


def test_a_session_cookie_older_than_the_session_lifetime_is_refused(app, world, monkeypatch):
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    client = _client(app)
    signed_at = int(time.time()) - 12 * 3600 - 60
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at)
    _post_login(client, "staff", "pw-staff")
    monkeypatch.undo()
    assert not _opens_inbox(client)
    fresh = _client(app)
    _post_login(fresh, "staff", "pw-staff")
    assert _opens_inbox(fresh)


def test_a_password_change_ends_other_sessions_and_keeps_this_one(app, services, world):
    here, elsewhere = _client(app, "10.0.4.1"), _client(app, "10.0.4.2")
    _post_login(here, "staff", "pw-staff")
    _post_login(elsewhere, "staff", "pw-staff", remember="1")
    remember_cookie = _cookie(elsewhere, "remember_token")

    wrong = here.post("/profile/password", data={"old_password": "nope", "new_password": "new-secret-1",
                                                 "new_password2": "new-secret-1"})
    assert wrong.status_code == 303 and "当前密码不正确" in here.get("/profile").get_data(as_text=True)
    assert _opens_inbox(elsewhere), "a refused change ends nothing"

    changed = here.post("/profile/password", data={"old_password": "pw-staff", "new_password": "new-secret-1",
                                                   "new_password2": "new-secret-1"})
    assert changed.status_code == 303
    assert _opens_inbox(here)
    assert not _opens_inbox(elsewhere)
    replay = _client(app, "10.0.4.3")
    replay.set_cookie("remember_token", remember_cookie)
    assert not _opens_inbox(replay)
    assert _post_login(_client(app, "10.0.4.4"), "staff", "pw-staff").status_code == 401
    assert _post_login(_client(app, "10.0.4.5"), "staff", "new-secret-1").status_code == 302


def test_change_password_refuses_short_passwords(services, world):
    with services.uow() as uow:
        user = uow.session.get(User, world.users.staff)
        version = user.session_version
        with pytest.raises(Exception, match="at least 8"):
            accounts.change_password(uow.session, user, "pw-staff", "short")
        assert user.session_version == version


@pytest.mark.parametrize("weak", ["password1", "12345678", "qwertyuiop", "woaini1314", "abc12345", "11111111"])
def test_change_password_refuses_common_and_guessable_passwords(services, world, weak):
    with services.uow() as uow:
        user = uow.session.get(User, world.users.staff)
        hash_before = user.password_hash
        with pytest.raises(InvalidFormData) as refused:
            accounts.change_password(uow.session, user, "pw-staff", weak)
        assert refused.value.errors[0]["code"] == "too_common"
        assert user.password_hash == hash_before


def test_a_password_made_of_the_users_own_name_or_numbers_is_refused(services, world):
    with services.uow() as uow:
        user = uow.session.get(User, world.users.staff)
        user.employee_no, user.phone = "20230917", "13912345678"
        for own in (f"{user.username}2026", "20230917a", "13912345678"):
            assert accounts.password_problems(own, user)[0]["code"] == "too_common", own
        assert accounts.password_problems("Lz-anquan-9-huo", user) == []


def test_the_profile_page_says_why_a_common_password_is_refused(app, services, world):
    client = _client(app, "10.0.4.9")
    _post_login(client, "staff", "pw-staff")
    client.post("/profile/password", data={"old_password": "pw-staff", "new_password": "password1",
                                           "new_password2": "password1"})
    assert "新密码太容易被猜到" in client.get("/profile").get_data(as_text=True)
    assert _post_login(_client(app, "10.0.4.10"), "staff", "pw-staff").status_code == 302


# -- settings ----------------------------------------------------------------------------------------------------------

def test_secure_cookies_are_settings_and_on_in_production(services, world, monkeypatch):
    plain = create_app(Settings(secret_key="test-secret"), services=services)
    assert not plain.config["SESSION_COOKIE_SECURE"] and not plain.config["REMEMBER_COOKIE_SECURE"]
    chosen = create_app(Settings(secret_key="test-secret", session_cookie_secure=True), services=services)
    assert chosen.config["SESSION_COOKIE_SECURE"] and not chosen.config["REMEMBER_COOKIE_SECURE"]
    response = _post_login(chosen.test_client(), "staff", "pw-staff")
    assert "Secure" in next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    monkeypatch.setenv("RECTIFLOW_ENV", "production")
    production = create_app(Settings(secret_key="a-real-secret"), services=services)
    assert production.config["SESSION_COOKIE_SECURE"] and production.config["REMEMBER_COOKIE_SECURE"]


def test_sign_in_settings_come_from_the_environment():
    settings = Settings.from_env({"RECTIFLOW_PROXY_HOPS": "1", "RECTIFLOW_SESSION_COOKIE_SECURE": "on", "RECTIFLOW_REMEMBER_COOKIE_SECURE": "0",
                                  "RECTIFLOW_SESSION_HOURS": "8", "RECTIFLOW_REMEMBER_DAYS": "7",
                                  "RECTIFLOW_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
                                  "RECTIFLOW_LOGIN_RATE_LIMIT": "5 per minute", "RECTIFLOW_LOCKOUT_FAILURES": "3",
                                  "RECTIFLOW_LOCKOUT_MINUTES": "30"})
    assert (settings.session_cookie_secure, settings.remember_cookie_secure) == (True, False)
    assert (settings.session_hours, settings.remember_days) == (8, 7)
    assert settings.ratelimit_storage_uri == "redis://127.0.0.1:6379" and settings.login_rate_limit == "5 per minute"
    assert (settings.lockout_failures, settings.lockout_minutes, settings.proxy_hops) == (3, 30, 1)


# -- API tokens --------------------------------------------------------------------------------------------------------

def test_api_tokens_expire(app, services, world):
    token, plaintext = tokens.create_token(services, world.users.staff, "cron", expires_in_days=1)
    assert token.expires_at == services.clock.now() + timedelta(days=1)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    services.clock.advance(days=1)
    expired = client.get("/api/v1/tasks", headers=headers)
    assert expired.status_code == 401 and "expired" in expired.get_json()["message"]
    default, _ = tokens.create_token(services, world.users.staff, "default")
    assert default.expires_at == services.clock.now() + timedelta(days=90)
    forever, plaintext = tokens.create_token(services, world.users.staff, "forever", expires_in_days=None)
    assert forever.expires_at is None
    services.clock.advance(days=4000)
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
