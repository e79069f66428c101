"""Form validation, password hashing and due-time parsing."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from jsonschema.exceptions import SchemaError

from engine.infra.errors import InvalidFormData
from engine.org.accounts import check_password, hash_password
from engine.process.forms import check_form_schema, validate_form_data
from engine.process.projection import parse_due

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["accepted"],
    "properties": {"accepted": {"type": "boolean"}, "when": {"type": "string", "format": "date"},
                   "note": {"type": "string", "default": ""}},
}
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def test_valid_data_passes_with_defaults_filled():
    assert validate_form_data(SCHEMA, {"accepted": True}, now=NOW) == {"accepted": True, "note": ""}


def test_each_bad_field_is_named():
    with pytest.raises(InvalidFormData, match="invalid form data") as caught:
        validate_form_data(SCHEMA, {"when": "2026-13-45", "extra": 1}, now=NOW)
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"accepted", "when", "extra"}


def test_form_data_must_be_an_object():
    with pytest.raises(InvalidFormData, match="object"):
        validate_form_data(SCHEMA, ["accepted"], now=NOW)


BOUNDED = {"type": "object", "properties": {
    "deadline": {"type": "string", "format": "date", "notBefore": "today"},
    "found_on": {"type": "string", "format": "date", "notAfter": "today"},
    "opens_on": {"type": "string", "format": "date", "notBefore": "2026-12-01"},
}}


def test_a_deadline_before_today_is_refused_and_today_passes():
    with pytest.raises(InvalidFormData, match="deadline") as caught:
        validate_form_data(BOUNDED, {"deadline": "2020-01-01", "found_on": "2026-11-02"}, now=NOW)
    assert caught.value.errors == [{"field": "deadline", "message": "2020-01-01 is before today (2026-11-02)"}]
    assert validate_form_data(BOUNDED, {"deadline": "2026-11-02"}, now=NOW) == {"deadline": "2026-11-02"}


def test_today_is_the_day_in_china_time():
    late_evening_utc = datetime(2026, 11, 1, 17, 0, tzinfo=timezone.utc)  # already 11-02 01:00 in China
    with pytest.raises(InvalidFormData, match="deadline"):
        validate_form_data(BOUNDED, {"deadline": "2026-11-01"}, now=late_evening_utc)


def test_a_day_after_today_or_before_a_fixed_date_is_refused():
    with pytest.raises(InvalidFormData) as caught:
        validate_form_data(BOUNDED, {"found_on": "2026-11-03", "opens_on": "2026-11-30"}, now=NOW)
    assert {e["field"]: e["message"] for e in caught.value.errors} == {
        "found_on": "2026-11-03 is after today (2026-11-02)", "opens_on": "2026-11-30 is before 2026-12-01"}


@pytest.mark.parametrize("bound", ["tomorrow", 3])
def test_a_date_bound_that_is_neither_today_nor_a_date_is_not_a_valid_form(bound):
    with pytest.raises(SchemaError, match="notBefore"):
        check_form_schema({"type": "object", "properties": {"d": {"type": "string", "notBefore": bound}}})


def test_passwords_are_salted_and_checked_in_constant_time():
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and first.startswith("scrypt$")
    assert check_password(first, "s3cret") and not check_password(first, "S3cret")
    assert not check_password("garbage", "s3cret")


@pytest.mark.parametrize("value, expected", [
    ("P2D", "2026-11-04T01:00:00+00:00"),
    ("PT4H", "2026-11-02T05:00:00+00:00"),
    ("2026-11-06", "2026-11-06T10:00:00+00:00"),  # a date means 18:00 in China
    ("2026-11-06T09:30:00+08:00", "2026-11-06T01:30:00+00:00"),
    (None, None),
])
def test_due_values_from_diagrams(value, expected):
    due = parse_due(value, NOW)
    assert (due.isoformat() if due else None) == expected
