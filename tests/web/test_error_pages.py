"""Every error a page can meet is the app's own page in the user's language, and JSON in the API's format
under /api/v1; a page refusing a bad query parameter says which one and how to write it."""
from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import BadRequest

from engine.infra.config import Settings
from web.app import create_app

from .ui_fixtures import app, login  # noqa: F401

WERKZEUG = ("Bad Request", "Method Not Allowed", "Internal Server Error", "Traceback", "The browser (or proxy)")


def _message(response) -> str:
    match = re.search(r'data-testid="error-message">\s*(.*?)\s*</p>', response.get_data(as_text=True), re.S)
    assert match, response.get_data(as_text=True)[:500]
    return match.group(1)


def _assert_own_page(response, status: int):
    assert response.status_code == status and response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert 'data-testid="error-page"' in body and "navbar" in body  # the app's own page, not Werkzeug's
    assert not any(text in body for text in WERKZEUG), body


@pytest.fixture
def bare_app(tmp_path):
    """The app with a view per error (no database is needed to draw an error page for a visitor)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/unused.sqlite3", secret_key="test-secret",
                              upload_dir=tmp_path / "uploads"))
    app.config["MAX_CONTENT_LENGTH"] = 10

    def bad():
        raise BadRequest("a bug's English detail")

    def boom():
        raise RuntimeError("a bug at /srv/rectiflow/secret.py")

    for prefix in ("", "/api/v1"):
        app.add_url_rule(f"{prefix}/test-bad", f"bad{prefix}", bad)
        app.add_url_rule(f"{prefix}/test-boom", f"boom{prefix}", boom)
        app.add_url_rule(f"{prefix}/test-upload", f"upload{prefix}", lambda: "ok", methods=["POST"])
    return app


def test_every_page_error_is_the_apps_own_page_with_its_own_words(bare_app):
    client = bare_app.test_client()
    expected = {400: "请求无效", 404: "页面不存在", 405: "此页面不支持该操作", 413: "上传的文件过大", 500: "服务器内部错误"}
    answers = {400: client.get("/test-bad"), 404: client.get("/no-such-page"), 405: client.put("/login"),
               413: client.post("/test-upload", data="x" * 100), 500: client.get("/test-boom")}
    for status, response in answers.items():
        _assert_own_page(response, status)
        assert expected[status] in _message(response), status
        assert "secret.py" not in response.get_data(as_text=True)
    assert answers[405].headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_api_errors_are_json_in_the_documented_format(bare_app):
    client = bare_app.test_client()
    answers = {400: ("bad_request", client.get("/api/v1/test-bad")),
               404: ("not_found", client.get("/api/v1/no-such-thing")),
               405: ("method_not_allowed", client.put("/api/v1/tasks")),
               413: ("too_large", client.post("/api/v1/test-upload", data="x" * 100)),
               500: ("server_error", client.get("/api/v1/test-boom"))}
    for status, (code, response) in answers.items():
        assert response.status_code == status and response.mimetype == "application/json", status
        body = response.get_json()
        assert body["code"] == code and set(body) <= {"code", "message", "errors"}, body
        assert "secret.py" not in response.get_data(as_text=True) and "Traceback" not in body["message"]
    assert answers[405][1].headers["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bad_statistics_date_names_the_field_in_the_users_language(login):
    client = login("security")
    for query, text in (("start=abc", "“统计期间起”不是有效的日期"), ("end=2026-13-01", "“统计期间止”不是有效的日期"),
                        ("as_of=yesterday", "“截至日期”不是有效的日期")):
        response = client.get(f"/statistics?{query}")
        _assert_own_page(response, 400)
        assert text in _message(response) and "2026-11-0" in _message(response), query
    period = client.get("/statistics.xlsx?start=2026-12-01&end=2026-11-01")
    _assert_own_page(period, 400)
    assert "开始日期不能晚于结束日期" in _message(period)
    assert client.post("/language", data={"lang": "en"}).status_code == 303
    english = client.get("/statistics?start=abc")
    _assert_own_page(english, 400)
    assert _message(english) == "“Period from” is not a valid date: write it as 2026-11-01."
    assert 'lang="en"' in english.get_data(as_text=True)
