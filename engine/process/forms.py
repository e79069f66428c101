"""Server-side validation of task form data against the JSON Schema named by the diagram."""
from __future__ import annotations

from jsonschema import Draft202012Validator, FormatChecker

from engine.infra.errors import InvalidFormData

_format_checker = FormatChecker()
# A property of this format takes files (photos taken on site): its value is the list of the ids the subject kept
# them as. The page uploads them with the form; the API passes ids uploaded before (engine.process.hooks).
EVIDENCE_FORMAT = "evidence"


def evidence_fields(schema: dict | None) -> list[str]:
    """The top-level properties of a form that take evidence files."""
    return [name for name, prop in ((schema or {}).get("properties") or {}).items()
            if isinstance(prop, dict) and prop.get("format") == EVIDENCE_FORMAT]


def _field_of(error) -> str:
    if error.validator == "required":
        # "'grade' is a required property": the missing field is the message's subject.
        return error.message.split("'")[1] if "'" in error.message else "/".join(map(str, error.path))
    if error.validator == "additionalProperties":
        return error.message.split("'")[1] if "'" in error.message else ""
    return "/".join(str(part) for part in error.absolute_path) or ""


def validate_form_data(schema: dict | None, data: dict, context: dict | None = None) -> dict:
    """Return the data if it satisfies the schema; otherwise raise InvalidFormData naming each field.

    A top-level property the schema marks `readOnly` is not the submitter's to give: it takes its value from
    `context` (the task's process data), so a form's `if`/`then` can depend on what an earlier step decided
    (e.g. the 四落实 plan asks for funds when the grading made the hazard 重大)."""
    if not isinstance(data, dict):
        raise InvalidFormData("form data must be an object", [{"field": "", "message": "not an object"}])
    if not schema:
        return data
    data = with_defaults(schema, with_context(schema, data, context))
    validator = Draft202012Validator(schema, format_checker=_format_checker)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        details = [{"field": _field_of(e), "message": e.message} for e in errors]
        fields = ", ".join(sorted({d["field"] for d in details if d["field"]})) or "form"
        raise InvalidFormData(f"invalid form data: {fields}", details)
    return data


def with_context(schema: dict | None, data: dict, context: dict | None) -> dict:
    """A copy of the data whose `readOnly` properties hold the context's values (dropped when it has none)."""
    filled = dict(data)
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("readOnly"):
            filled.pop(name, None)
            if context and context.get(name) is not None:
                filled[name] = context[name]
    return filled


def with_defaults(schema: dict, data: dict) -> dict:
    """A copy of the data with the schema's top-level defaults filled in, as a rendered form would submit them."""
    filled = dict(data)
    for name, prop in (schema.get("properties") or {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = prop["default"]
    return filled
