"""A database outage answers 503 with Retry-After (the app's own page, JSON under /api); the app's own 500 page;
API answers are never cached (Cache-Control: no-store)."""
from __future__ import annotations

import socket

import pytest
from sqlalchemy import create_engine, text

from engine.infra.config import Settings
from engine.org import tokens
from engine.rectification.attachments import EvidenceStore
from tests.conftest import PG_ADMIN_URL
from web.app import create_app

OUTAGE_TEXT = "系统暂时无法访问数据库，请稍后再试"
SERVER_ERROR_TEXT = "服务器内部错误"
APP_PAGE = "隐患排查整治"  # the brand in the app's navbar and <title>: our page, not Werkzeug's


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def unreachable_app(tmp_path):
    """The app built against a PostgreSQL server that is not there (the pool connects on first use)."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/rectiflow"
    return create_app(Settings(database_url=url, secret_key="test-secret", upload_dir=tmp_path / "uploads"),
                      config={"TESTING": True, "WTF_CSRF_ENABLED": False})


def _assert_outage_page(response, retry_after: str = "30"):
    assert response.status_code == 503
    # The sign-in form is rate limited: Flask-Limiter's own Retry-After (its window's reset) stands there.
    assert response.headers["Retry-After"] == retry_after if retry_after else int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert OUTAGE_TEXT in body and APP_PAGE in body
    assert "Internal Server Error" not in body and "Traceback" not in body


def test_pages_answer_503_with_retry_after_when_the_database_is_unreachable(unreachable_app):
    client = unreachable_app.test_client()
    _assert_outage_page(client.post("/login", data={"username": "security", "password": "pw"}), retry_after="")


def test_the_api_answers_503_json_with_retry_after_when_the_database_is_unreachable(unreachable_app):
    response = unreachable_app.test_client().get("/api/v1/tasks", headers={"Authorization": "Bearer rf_whatever"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {"code": "service_unavailable",
                                   "message": "the database is unavailable; try again shortly"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_signed_in_user_gets_the_outage_page_when_the_database_goes_away(services, world, database_url, tmp_path):
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    app = create_app(Settings(secret_key="test-secret", upload_dir=tmp_path / "uploads"), services=services,
                     config={"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert client.post("/login", data={"username": "security", "password": "pw-security"}).status_code == 302
    assert client.get("/inbox").status_code == 200
    name = database_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # the database stops taking connections and drops the ones it has
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        _assert_outage_page(client.get("/inbox"))
        _assert_outage_page(client.get("/ledger"))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert client.get("/inbox").status_code == 200  # back as soon as the database is


def test_an_unexpected_error_shows_the_apps_own_500_page_and_json_under_the_api(services, world, tmp_path):
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    app = create_app(Settings(secret_key="test-secret", upload_dir=tmp_path / "uploads"), services=services)

    def boom():
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/api/v1/boom", "api_boom", boom)
    client = app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500 and page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert SERVER_ERROR_TEXT in body and APP_PAGE in body and "Internal Server Error" not in body
    api = client.get("/api/v1/boom")
    assert api.status_code == 500
    assert api.get_json() == {"code": "server_error", "message": "internal server error"}
    assert api.headers["Cache-Control"] == "no-store"


def test_api_answers_carry_cache_control_no_store(services, world, tmp_path):
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    app = create_app(Settings(secret_key="test-secret", upload_dir=tmp_path / "uploads"), services=services,
                     config={"TESTING": True})
    client = app.test_client()
    token = tokens.create_token(services, world.users.security, "tests")[1]
    auth = {"Authorization": f"Bearer {token}"}
    for path, status in (("/api/v1/tasks", 200), ("/api/v1/hazards", 200), ("/api/v1/openapi.json", 200),
                         ("/api/v1/hazards/999999", 404), ("/api/v1/no-such-thing", 404)):
        response = client.get(path, headers=auth)
        assert response.status_code == status, path
        assert response.headers["Cache-Control"] == "no-store", path
    unauthenticated = client.get("/api/v1/tasks")
    assert unauthenticated.status_code == 401 and unauthenticated.headers["Cache-Control"] == "no-store"


class _DriverError(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_only_lost_connections_count_as_an_outage_not_deadlocks_or_bad_statements():
    from sqlalchemy import exc as sa_exc

    from web.outage import is_outage

    assert is_outage(sa_exc.OperationalError("SELECT 1", {}, _DriverError(None)))  # connection refused
    assert is_outage(sa_exc.OperationalError("SELECT 1", {}, _DriverError("57P01")))  # admin shutdown
    assert is_outage(sa_exc.InterfaceError("SELECT 1", {}, _DriverError(None)))  # connection already closed
    assert is_outage(sa_exc.DBAPIError("SELECT 1", {}, _DriverError("XX000"), connection_invalidated=True))
    assert is_outage(sa_exc.TimeoutError("QueuePool limit reached"))
    assert not is_outage(sa_exc.OperationalError("SELECT 1", {}, _DriverError("40P01")))  # deadlock: a 500
    assert not is_outage(sa_exc.ProgrammingError("SELECT nope", {}, _DriverError("42703")))
    assert not is_outage(sa_exc.IntegrityError("INSERT", {}, _DriverError("23505")))
    assert not is_outage(RuntimeError("a bug"))
