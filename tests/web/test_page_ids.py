"""Ids past the database's INTEGER range in any page path are a 404 page, never a server error.

Every page route with an `<int:...>` part is asked with 2147483648 (one past PostgreSQL's INTEGER maximum, which
SQLite would not store either) and with 0, by a signed-in user who could see most pages."""
from __future__ import annotations

import re

import pytest

from tests.web.ui_fixtures import app, login  # noqa: F401 - fixtures

@pytest.mark.parametrize("bad", ["2147483648", "99999999999999999999", "0"])
def test_page_paths_with_out_of_range_ids_answer_404(app, login, bad):
    client = login("security")
    rules = [r for r in app.url_map.iter_rules()
             if not r.rule.startswith("/api/") and "<int:" in r.rule and "GET" in (r.methods or ())]
    assert len(rules) > 10, "the page routes with ids were found"
    answers = {}
    for rule in rules:
        path = re.sub(r"<int:[a-z_]+>", bad, rule.rule)
        path = re.sub(r"<(?:string:|path:)?[a-z_]+>", "x", path)
        answers[path] = client.get(path).status_code
    assert {path: code for path, code in answers.items() if code != 404} == {}
