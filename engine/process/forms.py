"""Server-side validation of task form data against the JSON Schema named by the diagram."""
from __future__ import annotations

from jsonschema import Draft202012Validator, FormatChecker

from engine.infra.errors import InvalidFormData

_format_checker = FormatChecker()


def _field_of(error) -> str:
    if error.validator == "required":
        # "'grade' is a required property": the missing field is the message's subject.
        return error.message.split("'")[1] if "'" in error.message else "/".join(map(str, error.path))
    if error.validator == "additionalProperties":
        return error.message.split("'")[1] if "'" in error.message else ""
    return "/".join(str(part) for part in error.absolute_path) or ""


def validate_form_data(schema: dict | None, data: dict) -> dict:
    """Return the data if it satisfies the schema; otherwise raise InvalidFormData naming each field."""
    if not isinstance(data, dict):
        raise InvalidFormData("form data must be an object", [{"field": "", "message": "not an object"}])
    if not schema:
        return data
    data = with_defaults(schema, data)
    validator = Draft202012Validator(schema, format_checker=_format_checker)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        details = [{"field": _field_of(e), "message": e.message} for e in errors]
        fields = ", ".join(sorted({d["field"] for d in details if d["field"]})) or "form"
        raise InvalidFormData(f"invalid form data: {fields}", details)
    return data


def with_defaults(schema: dict, data: dict) -> dict:
    """A copy of the data with the schema's top-level defaults filled in, as a rendered form would submit them."""
    filled = dict(data)
    for name, prop in (schema.get("properties") or {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = prop["default"]
    return filled
