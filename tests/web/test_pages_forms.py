"""JSON Schema → HTML form fields, and submitted form fields → typed JSON for the engine."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

from werkzeug.datastructures import MultiDict

from engine.infra.config import DEFAULT_BPMN_DIR
from web.pages.forms_render import form_errors, form_fields, parse_form


NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def _form(name: str) -> dict:
    return json.loads((DEFAULT_BPMN_DIR / "forms" / f"{name}.json").read_text(encoding="utf-8"))


def test_fields_get_widgets_from_the_schema():
    units = [SimpleNamespace(id=7, name="机电工程学院")]
    widgets = {f.name: f for f in form_fields(_form("register_hazard"), {"grade": "major"}, units=units, now=NOW)}
    assert widgets["grade"].widget == "select" and ("major", "重大隐患") in widgets["grade"].options
    assert widgets["grade"].value == "major"
    assert widgets["responsible_unit_id"].widget == "unit" and widgets["responsible_unit_id"].options == [("7", "机电工程学院")]
    assert widgets["deadline"].widget == "date" and widgets["onsite_fix"].widget == "checkbox"
    assert widgets["remarks"].widget == "textarea" and widgets["responsible_person"].widget == "text"


def test_a_required_boolean_without_default_is_a_decision_with_two_buttons():
    decision = {f.name: f for f in form_fields(_form("accept_rectification"), now=NOW)}["accepted"]
    assert decision.widget == "decision" and decision.labels == ("验收通过", "验收不通过，退回整改")


def test_submitted_fields_become_typed_json_that_the_schema_accepts():
    schema = _form("register_hazard")
    data = parse_form(schema, MultiDict({"grade": "general", "responsible_unit_id": "7", "responsible_person": " 刘 ",
                                         "deadline": "2026-12-01", "onsite_fix": "true", "remarks": ""}))
    assert data == {"grade": "general", "responsible_unit_id": 7, "responsible_person": "刘",
                    "deadline": "2026-12-01", "onsite_fix": True}
    assert form_errors(schema, data, now=NOW) == {}


def test_an_unticked_checkbox_is_false_and_a_missing_decision_stays_missing():
    assert parse_form(_form("register_hazard"), MultiDict({"onsite_fix": "false"}))["onsite_fix"] is False
    assert "accepted" not in parse_form(_form("accept_rectification"), MultiDict({}))


def test_errors_are_keyed_by_field_with_readable_messages():
    errors = form_errors(_form("register_hazard"), {"grade": "huge", "responsible_unit_id": "x",
                                                    "deadline": "2026-02-30"}, now=NOW)
    assert errors["grade"] == "请从列表中选择" and errors["responsible_unit_id"] == "请输入数字"
    assert errors["deadline"] == "请输入有效日期（年-月-日）" and errors["responsible_person"] == "此项为必填项"


def test_a_deadline_field_starts_at_today_and_an_earlier_day_is_named_at_it():
    for form, name, title in (("register_hazard", "deadline", "整改期限"), ("rectification_plan", "plan_deadline", "整改时限")):
        field = {f.name: f for f in form_fields(_form(form), now=NOW)}[name]
        assert (field.min, field.max) == ("2026-11-02", None)
        assert form_errors(_form(form), {name: "2020-01-01"}, now=NOW)[name] == f"{title}不能早于今天"
        assert name not in form_errors(_form(form), {name: "2026-11-02"}, now=NOW)
