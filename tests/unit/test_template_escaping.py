"""No template outputs data unescaped: `_()` only on literal text, no `|safe`, htmx restricted in base.html.

Jinja's newstyle gettext marks what `_()` returns as safe HTML, so `{{ _(task.name) }}` prints a diagram's or a
user's markup as markup. Data goes through the `catalog` filter (a plain string, autoescaped) instead. The browser
test (tests/e2e/test_injection_browser.py) shows the same in Chromium; this one reads every template's syntax tree.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from jinja2 import Environment, nodes

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext"}


def _templates():
    env = Environment(extensions=["jinja2.ext.i18n"])
    for path in sorted(TEMPLATES.rglob("*.html")):
        yield path.relative_to(TEMPLATES), env.parse(path.read_text(encoding="utf-8"))


def test_gettext_in_templates_is_only_called_on_literal_text():
    offenders = []
    for name, tree in _templates():
        for call in tree.find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT:
                if not call.args or not all(isinstance(a, nodes.Const) for a in call.args):
                    offenders.append(f"{name}:{call.lineno}")
    assert offenders == [], f"_() over data prints it unescaped; use the catalog filter: {offenders}"


def test_no_template_marks_data_safe():
    offenders = [f"{name}:{f.lineno}" for name, tree in _templates() for f in tree.find_all(nodes.Filter)
                 if f.name == "safe"]
    assert offenders == []


def test_base_restricts_htmx_and_disables_it_in_main_by_default():
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", base)
    assert meta is not None
    assert json.loads(meta.group(1)) == {"selfRequestsOnly": True, "allowEval": False, "allowScriptTags": False,
                                         "historyCacheSize": 0}
    assert re.search(r"<main [^>]*{% block main_htmx %}hx-disable{% endblock %}>", base)
    # Pages that take htmx back keep hx-disable on the containers of user and diagram text.
    opted_in = [p for p in TEMPLATES.rglob("*.html") if "{% block main_htmx %}{% endblock %}" in p.read_text("utf-8")]
    assert sorted(str(p.relative_to(TEMPLATES)) for p in opted_in) == ["inbox/index.html",
                                                                       "notifications/escalated.html"]
    for partial in ("inbox/_item.html", "partials/comments.html", "partials/evidence.html",
                    "partials/hazard_facts.html", "partials/timeline.html"):
        assert "hx-disable" in (TEMPLATES / partial).read_text(encoding="utf-8"), partial
