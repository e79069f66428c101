"""Form validation, password hashing and due-time parsing."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.infra.errors import InvalidFormData
from engine.org.accounts import check_password, hash_password
from engine.process.forms import validate_form_data
from engine.process.projection import parse_due

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["accepted"],
    "properties": {"accepted": {"type": "boolean"}, "when": {"type": "string", "format": "date"},
                   "note": {"type": "string", "default": ""}},
}
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


def test_valid_data_passes_with_defaults_filled():
    assert validate_form_data(SCHEMA, {"accepted": True}) == {"accepted": True, "note": ""}


def test_each_bad_field_is_named():
    with pytest.raises(InvalidFormData, match="invalid form data") as caught:
        validate_form_data(SCHEMA, {"when": "2026-13-45", "extra": 1})
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"accepted", "when", "extra"}


def test_form_data_must_be_an_object():
    with pytest.raises(InvalidFormData, match="object"):
        validate_form_data(SCHEMA, ["accepted"])


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
