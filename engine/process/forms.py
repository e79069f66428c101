"""Server-side validation of task form data against the JSON Schema named by the diagram.

Besides JSON Schema 2020-12 a form may bound a date field by the engine's clock: `"notBefore": "today"` (a
deadline: today or later) and `"notAfter": "today"` (a day something happened: today or earlier), in China time;
either keyword also takes a fixed ISO date. A designer puts them on any `"format": "date"` field.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from functools import lru_cache

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError

from engine.infra.errors import InvalidFormData
from engine.infra.timezone import CHINA, as_date

_format_checker = FormatChecker()
# A property of this format takes files (photos taken on site): its value is the list of the ids the subject kept
# them as. The page uploads them with the form; the API passes ids uploaded before (engine.process.hooks).
EVIDENCE_FORMAT = "evidence"


def evidence_fields(schema: dict | None) -> list[str]:
    """The top-level properties of a form that take evidence files."""
    return [name for name, prop in ((schema or {}).get("properties") or {}).items()
            if isinstance(prop, dict) and prop.get("format") == EVIDENCE_FORMAT]


# keyword → (is the day out of bounds, what the API says about it)
DATE_BOUNDS = {
    "notBefore": (lambda day, bound: day < bound, "is before"),
    "notAfter": (lambda day, bound: day > bound, "is after"),
}


def _bound_day(bound, today: date) -> date:
    return today if bound == "today" else date.fromisoformat(str(bound))


def form_validator(schema: dict, now: datetime):
    """A validator of the schema on `now`: JSON Schema 2020-12, formats checked, with this module's date bounds."""
    return _validator_class(now.astimezone(CHINA).date())(schema, format_checker=_format_checker)


@lru_cache(maxsize=8)
def _validator_class(today: date):
    def keyword(name):
        outside, words = DATE_BOUNDS[name]

        def check(validator, bound, instance, schema) -> Iterator[ValidationError]:
            try:
                day = as_date(instance) if isinstance(instance, str) else None
            except ValueError:
                return  # not a date: `format` says so
            limit = _bound_day(bound, today)
            if day is not None and outside(day, limit):
                yield ValidationError(f"{day} {words} " + (f"today ({limit})" if bound == "today" else str(limit)))
        return check

    return validators.extend(Draft202012Validator, {name: keyword(name) for name in DATE_BOUNDS})


def date_limits(prop: dict, now: datetime) -> tuple[date | None, date | None]:
    """The earliest and latest day a date field's `notBefore`/`notAfter` allow on `now` (None: no bound)."""
    today = now.astimezone(CHINA).date()
    earliest, latest = (_bound_day(prop[name], today) if name in prop else None for name in DATE_BOUNDS)
    return earliest, latest


def check_form_schema(form: dict) -> None:
    """Raise SchemaError when a form is not a JSON Schema or a date bound is neither "today" nor an ISO date."""
    Draft202012Validator.check_schema(form)
    for name, bound in _date_bounds(form):
        try:
            _bound_day(bound, date.min)
        except (TypeError, ValueError):
            raise SchemaError(f"{name} must be \"today\" or an ISO date, not {bound!r}") from None


def _date_bounds(node) -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in DATE_BOUNDS and not isinstance(value, (dict, list)):
                yield key, value
            else:
                yield from _date_bounds(value)
    elif isinstance(node, list):
        for item in node:
            yield from _date_bounds(item)


def _field_of(error) -> str:
    if error.validator == "required":
        # "'grade' is a required property": the missing field is the message's subject.
        return error.message.split("'")[1] if "'" in error.message else "/".join(map(str, error.path))
    if error.validator == "additionalProperties":
        return error.message.split("'")[1] if "'" in error.message else ""
    return "/".join(str(part) for part in error.absolute_path) or ""


def validate_form_data(schema: dict | None, data: dict, context: dict | None = None, *, now: datetime) -> dict:
    """Return the data if it satisfies the schema; otherwise raise InvalidFormData naming each field.

    A top-level property the schema marks `readOnly` is not the submitter's to give: it takes its value from
    `context` (the task's process data), so a form's `if`/`then` can depend on what an earlier step decided
    (e.g. the 四落实 plan asks for funds when the grading made the hazard 重大). `now` (the engine's clock) gives
    the day `notBefore`/`notAfter` "today" mean, in China time."""
    if not isinstance(data, dict):
        raise InvalidFormData("form data must be an object", [{"field": "", "message": "not an object"}])
    if not schema:
        return data
    data = with_defaults(schema, with_context(schema, data, context))
    validator = form_validator(schema, now)
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
