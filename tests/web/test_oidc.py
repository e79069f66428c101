"""OpenID Connect sign-in (web/oidc.py) against a small real provider served from a thread on 127.0.0.1.

The provider publishes discovery and a JWKS, answers /authorize at once with a code (as if the person had signed
in there) and /token with an RS256 ID token carrying the claims the test chose. The browser is the Flask test
client; the hop to the provider and back is followed with requests.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select, update
from werkzeug.serving import make_server

from engine.infra.config import Settings
from engine.org import accounts
from engine.org.models import RoleGrant, User
from engine.process.models import Event
from web.app import create_app

from .ui_fixtures import app  # noqa: F401

CLIENT_ID, CLIENT_SECRET = "rectiflow", "s3cret"
ALERT = re.compile(r'<div class="alert alert-danger[^"]*" role="alert">(.*?)</div>', re.S)


def _provider_app(state: SimpleNamespace) -> Flask:
    provider = Flask("test_oidc_provider")

    @provider.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify(issuer=state.url, authorization_endpoint=state.url + "/authorize",
                       token_endpoint=state.url + "/token", jwks_uri=state.url + "/jwks",
                       response_types_supported=["code"], subject_types_supported=["public"],
                       id_token_signing_alg_values_supported=["RS256"])

    @provider.get("/jwks")
    def jwks():
        return jsonify(keys=[state.key.as_dict(private=False)])

    @provider.get("/authorize")
    def authorize():
        assert request.args["client_id"] == CLIENT_ID and request.args["response_type"] == "code"
        code = secrets.token_urlsafe(16)
        state.codes[code] = request.args["nonce"]  # Authlib sends a nonce; the ID token must carry it back
        return redirect(request.args["redirect_uri"] + "?" + urlencode({"code": code, "state": request.args["state"]}))

    @provider.post("/token")
    def token():
        assert request.authorization.username == CLIENT_ID and request.authorization.password == CLIENT_SECRET
        nonce = state.codes.pop(request.form["code"], None)
        if nonce is None:
            return jsonify(error="invalid_grant"), 400
        now = int(time.time())
        claims = {"iss": state.url, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
                  "sub": "idp-" + secrets.token_hex(4), **state.claims}
        signed = jwt.encode({"alg": "RS256", "kid": state.key.kid}, claims, state.signing_key or state.key)
        return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300, id_token=signed)

    return provider


@pytest.fixture(scope="module")
def provider():
    """The running provider; set `.claims` (and `.signing_key` to forge) before a sign-in."""
    state = SimpleNamespace(key=RSAKey.generate_key(2048, parameters={"kid": "k1"}), codes={}, claims={},
                            signing_key=None)
    server = make_server("127.0.0.1", 0, _provider_app(state), threaded=True)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def oidc_app(services, world, provider):
    """Factory: the web app with OIDC pointed at the test provider (settings overrides as keywords)."""
    provider.claims, provider.signing_key = {}, None

    def _app(**overrides):
        conf = Settings(secret_key="test-secret", oidc_issuer=provider.url, oidc_client_id=CLIENT_ID,
                        oidc_client_secret=CLIENT_SECRET, **overrides)
        return create_app(conf, services=services, config={"TESTING": True, "WTF_CSRF_ENABLED": False})

    return _app


def _sign_in(client, provider, claims, tamper_state=False):
    """Start at /login/oidc, let the provider answer, and return the test client's response to the callback."""
    provider.claims = claims
    start = client.get("/login/oidc")
    assert start.status_code == 302 and start.location.startswith(provider.url + "/authorize?")
    back = requests.get(start.location, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    target = urlsplit(back.headers["Location"])
    assert target.path == "/login/oidc/callback"
    query = target.query
    if tamper_state:
        query = re.sub(r"state=[^&]+", "state=forged", query)
    return client.get(f"{target.path}?{query}")


def _alert(response) -> str:
    return ALERT.search(response.get_data(as_text=True)).group(1)


def _set(services, name, **values):
    with services.uow() as uow:
        uow.session.execute(update(User).where(User.username == name).values(**values))
        uow.commit()


def _user_count(services) -> int:
    with services.uow() as uow:
        return len(list(uow.session.scalars(select(User.id))))


def test_a_user_matched_by_employee_number_is_signed_in_and_the_inbox_opens(oidc_app, provider, services):
    _set(services, "staff", employee_no="T1001")
    client = oidc_app().test_client()
    assert client.get("/inbox").status_code == 302  # not signed in yet
    response = _sign_in(client, provider, {"employee_no": "T1001", "email": "someone@else.edu.cn",
                                           "email_verified": True})
    assert response.status_code == 302 and response.location.endswith("/inbox")
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and "staff" in inbox.get_data(as_text=True)
    # The sign-in is an ordinary session: logout ends it.
    client.post("/logout")
    assert client.get("/inbox").status_code == 302


def test_the_employee_claim_name_is_configurable_and_next_is_kept(oidc_app, provider, services):
    _set(services, "head", employee_no="H-7")
    client = oidc_app(oidc_employee_claim="gh").test_client()
    provider.claims = {"gh": "H-7"}
    start = client.get("/login/oidc?next=/hazards")
    back = requests.get(start.location, allow_redirects=False, timeout=10)
    target = urlsplit(back.headers["Location"])
    response = client.get(f"{target.path}?{target.query}")
    assert response.status_code == 302 and response.location.endswith("/hazards")


def test_a_user_matched_by_verified_email_is_signed_in(oidc_app, provider, services):
    _set(services, "leader", email="leader@school.edu.cn")
    client = oidc_app().test_client()
    response = _sign_in(client, provider, {"email": "Leader@School.edu.cn", "email_verified": True})
    assert response.status_code == 302
    assert client.get("/inbox").status_code == 200


def test_an_unverified_email_matches_nobody(oidc_app, provider, services):
    _set(services, "leader", email="leader@school.edu.cn")
    client = oidc_app().test_client()
    response = _sign_in(client, provider, {"email": "leader@school.edu.cn", "email_verified": False})
    assert response.status_code == 403
    assert "工号或已验证的邮箱" in _alert(response)
    assert client.get("/inbox").status_code == 302


def test_an_unknown_user_without_jit_is_refused_and_nothing_is_created(oidc_app, provider, services):
    before = _user_count(services)
    client = oidc_app().test_client()
    response = _sign_in(client, provider, {"employee_no": "NOBODY", "email": "new@school.edu.cn",
                                           "email_verified": True})
    assert response.status_code == 403
    assert "系统中没有与您的统一身份认证账号对应的用户" in _alert(response)
    assert 'data-testid="oidc-login"' in response.get_data(as_text=True)  # the login page, with its button
    assert _user_count(services) == before
    assert client.get("/inbox").status_code == 302


def test_jit_creates_the_user_in_the_configured_unit_without_roles_or_password(oidc_app, provider, services,
                                                                                world):
    client = oidc_app(oidc_jit_org="s-jd").test_client()
    response = _sign_in(client, provider, {"employee_no": "N-42", "name": "新老师", "email": "n42@school.edu.cn",
                                           "email_verified": True})
    assert response.status_code == 302 and response.location.endswith("/inbox")
    assert client.get("/inbox").status_code == 200  # no forced password change: there is no local password
    with services.uow() as uow:
        s = uow.session
        user = s.scalars(select(User).where(User.employee_no == "N-42")).one()
        assert (user.username, user.display_name, user.email, user.org_id) == (
            "N-42", "新老师", "n42@school.edu.cn", world.orgs.college)
        assert not user.must_change_password and user.active
        assert list(s.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id))) == []
        created = s.scalars(select(Event).where(Event.kind == "admin.user_created")).one()
        assert created.data["target_id"] == user.id and created.actor_id is None
    # No local password opens the account.
    assert app_post_login(oidc_app(), "N-42", "!").status_code == 401
    # The next sign-in finds the same user instead of creating another.
    before = _user_count(services)
    assert _sign_in(oidc_app(oidc_jit_org="s-jd").test_client(), provider,
                    {"employee_no": "N-42"}).status_code == 302
    assert _user_count(services) == before


def app_post_login(app_, username, password):
    return app_.test_client().post("/login", data={"username": username, "password": password})


def test_a_user_waiting_to_change_a_one_time_password_goes_straight_to_work(oidc_app, provider, services):
    """The provider vouches instead: the one-time password stops working and no password page is in the way."""
    _set(services, "staff", employee_no="T1002", must_change_password=True)
    client = oidc_app().test_client()
    assert _sign_in(client, provider, {"employee_no": "T1002"}).status_code == 302
    assert client.get("/inbox").status_code == 200
    with services.uow() as uow:
        user = uow.session.scalars(select(User).where(User.username == "staff")).one()
        assert user.must_change_password is False and not accounts.check_password(user.password_hash, "pw-staff")


def test_an_inactive_user_is_refused(oidc_app, provider, services):
    _set(services, "staff", employee_no="T1001", active=False)
    client = oidc_app(oidc_jit_org="s-jd").test_client()  # JIT does not resurrect a deactivated user either
    before = _user_count(services)
    response = _sign_in(client, provider, {"employee_no": "T1001"})
    assert response.status_code == 403
    assert "您的账号已停用" in _alert(response)
    assert _user_count(services) == before
    assert client.get("/inbox").status_code == 302


def test_a_locked_account_stays_locked(oidc_app, provider, services, clock):
    _set(services, "staff", employee_no="T1001", locked_until=clock.now() + timedelta(minutes=10))
    response = _sign_in(oidc_app().test_client(), provider, {"employee_no": "T1001"})
    assert response.status_code == 403
    assert "锁定" in _alert(response)


def test_a_bad_state_is_refused(oidc_app, provider, services):
    _set(services, "staff", employee_no="T1001")
    client = oidc_app().test_client()
    response = _sign_in(client, provider, {"employee_no": "T1001"}, tamper_state=True)
    assert response.status_code == 403
    assert "认证结果无效或已过期" in _alert(response)
    assert client.get("/inbox").status_code == 302


def test_an_id_token_signed_with_another_key_is_refused(oidc_app, provider, services):
    _set(services, "staff", employee_no="T1001")
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    client = oidc_app().test_client()
    response = _sign_in(client, provider, {"employee_no": "T1001"})
    assert response.status_code == 403
    assert client.get("/inbox").status_code == 302


def test_passwords_keep_working_and_the_button_shows_when_configured(oidc_app):
    app_ = oidc_app(oidc_label="某校统一认证")
    page = app_.test_client().get("/login").get_data(as_text=True)
    assert 'data-testid="oidc-login"' in page and "某校统一认证" in page
    assert app_post_login(app_, "staff", "pw-staff").status_code == 302
    default = oidc_app().test_client().get("/login").get_data(as_text=True)
    assert "统一身份认证登录" in default


def test_without_configuration_there_is_no_route_and_no_button(app):  # noqa: F811
    client = app.test_client()
    assert client.get("/login/oidc").status_code == 404
    assert client.get("/login/oidc/callback?code=x&state=y").status_code == 404
    assert 'data-testid="oidc-login"' not in client.get("/login").get_data(as_text=True)
    assert app_post_login(app, "staff", "pw-staff").status_code == 302


def test_settings_read_the_oidc_variables():
    conf = Settings.from_env({"RECTIFLOW_OIDC_ISSUER": "https://idp.school.edu.cn/", "RECTIFLOW_OIDC_CLIENT_ID": "c",
                              "RECTIFLOW_OIDC_CLIENT_SECRET": "s", "RECTIFLOW_OIDC_MATCH": "email",
                              "RECTIFLOW_OIDC_EMPLOYEE_CLAIM": "gh", "RECTIFLOW_OIDC_JIT_ORG": "s-jd",
                              "RECTIFLOW_OIDC_LABEL": "登录"})
    assert (conf.oidc_issuer, conf.oidc_client_id, conf.oidc_client_secret, conf.oidc_match,
            conf.oidc_employee_claim, conf.oidc_jit_org, conf.oidc_label) == (
        "https://idp.school.edu.cn", "c", "s", ("email",), "gh", "s-jd", "登录")
    assert Settings.from_env({}).oidc_issuer == ""
    with pytest.raises(ValueError):
        Settings.from_env({"RECTIFLOW_OIDC_MATCH": "phone"})


def test_the_button_and_the_refusals_are_translated(oidc_app, provider):
    client = oidc_app().test_client()
    with client.session_transaction() as browser:
        browser["lang"] = "en"
    page = client.get("/login").get_data(as_text=True)
    assert re.search(r'data-testid="oidc-login"[^>]*>Sign in with the school(&#39;|\')s identity system</a>', page)
    response = _sign_in(client, provider, {"employee_no": "NOBODY"})
    assert response.status_code == 403
    assert "No user here matches your identity-system account" in _alert(response)


def test_an_unreachable_provider_gives_the_login_page_not_a_traceback(services, world):
    closed = make_server("127.0.0.1", 0, Flask("closed"))
    url = f"http://127.0.0.1:{closed.server_port}"
    closed.server_close()  # nothing listens there any more
    app_ = create_app(Settings(secret_key="test-secret", oidc_issuer=url, oidc_client_id=CLIENT_ID,
                               oidc_client_secret=CLIENT_SECRET), services=services,
                      config={"TESTING": True, "WTF_CSRF_ENABLED": False})
    response = app_.test_client().get("/login/oidc")
    assert response.status_code == 502
    assert "统一身份认证服务暂时无法访问" in _alert(response)
