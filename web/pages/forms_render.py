"""JSON Schema forms for HTML: schema → field descriptions for templates, request.form → typed JSON, errors by field."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from jsonschema import FormatChecker

from engine.infra.errors import InvalidFormData
from engine.process.forms import EVIDENCE_FORMAT, date_limits, form_validator, with_defaults
from engine.rectification.hazards import check_date
from web.templating import translate

# A required boolean without a default is the step's decision: rendered as two buttons, not a checkbox. The form
# names the buttons: `"oneOf": [{"const": true, "title": "验收通过"}, {"const": false, "title": "退回整改"}]`.
# Strings longer than this get a textarea.
TEXTAREA_OVER = 200
_checker = FormatChecker()


@dataclass
class Field:
    """One form field as a template draws it."""

    name: str
    title: str
    widget: str  # text, textarea, date, select, checkbox, decision, integer, number, unit, evidence
    required: bool
    value: object = None
    options: list[tuple[str, str]] = field(default_factory=list)
    max_length: int | None = None
    error: str | None = None
    description: str | None = None
    readonly: bool = False  # `readOnly` in the schema: shown, not edited (the engine takes it from the process data)
    min: str | None = None  # a date field's earliest and latest day (`notBefore`/`notAfter`), as ISO dates
    max: str | None = None

    @property
    def shown(self) -> str:
        """A read-only field's value as text: its option's title where it has options."""
        return dict(self.options).get(str(self.value), "" if self.value is None else str(self.value))

    @property
    def labels(self) -> tuple[str, str]:
        """The two button labels of a decision field: the titles of its `true` and `false` options, else its title."""
        titles = dict(self.options)
        return titles.get("True") or self.title, titles.get("False") or f"{self.title}：否"


def _widget(name: str, prop: dict, required: bool) -> str:
    kind = prop.get("type")
    if prop.get("format") == EVIDENCE_FORMAT:
        return "evidence"  # files (photos) sent with the form; the value shows the files kept from a refused try
    if kind == "boolean":
        return "decision" if required and "default" not in prop else "checkbox"
    if "oneOf" in prop or "enum" in prop:
        return "select"
    if kind == "integer" and name.endswith("_unit_id"):
        return "unit"
    if kind in ("integer", "number"):
        return kind
    if prop.get("format") == "date":
        return "date"
    if (prop.get("maxLength") or 0) > TEXTAREA_OVER:
        return "textarea"
    return "text"


def _options(prop: dict) -> list[tuple[str, str]]:
    if "oneOf" in prop:
        return [(str(o.get("const")), o.get("title") or str(o.get("const"))) for o in prop["oneOf"] if "const" in o]
    return [(str(v), str(v)) for v in prop.get("enum", [])]


def form_fields(schema: dict | None, values: dict | None = None, errors: dict | None = None,
                units: list | None = None, *, now: datetime) -> list[Field]:
    """The fields of a schema's top-level properties, in schema order, with values and errors filled in; `now`
    dates the bounds of date fields."""
    if not schema:
        return []
    values = values or {}
    errors = errors or {}
    required = set(schema.get("required") or [])
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        widget = _widget(name, prop, name in required)
        f = Field(name=name, title=prop.get("title") or name, widget=widget, required=name in required,
                  value=values.get(name, prop.get("default")), max_length=prop.get("maxLength"),
                  error=errors.get(name), description=prop.get("description"), readonly=bool(prop.get("readOnly")))
        if widget in ("select", "decision"):
            f.options = _options(prop)
        elif widget == "unit":
            f.options = [(str(u.id), u.name) for u in (units or [])]
        elif widget == "date":
            f.min, f.max = (d.isoformat() if d else None for d in date_limits(prop, now))
        fields.append(f)
    return fields


def _coerce(prop: dict, raw: str):
    kind = prop.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw  # left as text so validation names the field
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    if "oneOf" in prop:
        # Select values arrive as text; give back the const with its own type.
        for option in prop["oneOf"]:
            if str(option.get("const")) == raw:
                return option.get("const")
    return raw


def parse_form(schema: dict | None, form) -> dict:
    """Typed JSON from submitted form fields: empty inputs and read-only fields are left out, checkboxes become
    booleans."""
    if not schema:
        return {}
    required = set(schema.get("required") or [])
    data: dict = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("readOnly") or prop.get("format") == EVIDENCE_FORMAT:
            continue  # not typed: the engine fills it from the process data, or from the files sent with the form
        if prop.get("type") == "boolean":
            raw = form.get(name)
            if raw is None and name in required and "default" not in prop:
                continue
            data[name] = raw in ("true", "on", "1", "yes")
            continue
        raw = (form.get(name) or "").strip()
        if raw != "":
            data[name] = _coerce(prop, raw)
    return data


def _message(error) -> str:
    if error.validator in ("required", "minLength"):
        return _("此项为必填项")
    if error.validator == "minItems":
        return _("请至少上传 %(n)s 个文件", n=error.validator_value)
    if error.validator == "maxItems":
        return _("最多上传 %(n)s 个文件", n=error.validator_value)
    if error.validator == "maxLength":
        return _("内容过长（最多 %(n)s 字）", n=error.validator_value)
    if error.validator == "format" and error.validator_value == "date":
        return _("请输入有效日期（年-月-日）")
    if error.validator in ("type",) and error.validator_value in ("integer", "number"):
        return _("请输入数字")
    if error.validator in ("oneOf", "enum", "const"):
        return _("请从列表中选择")
    if error.validator == "minimum":
        return _("请选择")
    if error.validator in ("notBefore", "notAfter"):
        title, day = translate(error.schema.get("title")) or _("日期"), error.validator_value  # as its label shows
        if error.validator == "notBefore":
            return (_("%(field)s不能早于今天", field=title) if day == "today"
                    else _("%(field)s不能早于%(day)s", field=title, day=day))
        return (_("%(field)s不能晚于今天", field=title) if day == "today"
                else _("%(field)s不能晚于%(day)s", field=title, day=day))
    return error.message


def _field(error) -> str:
    if error.validator == "required":
        return error.message.split("'")[1] if "'" in error.message else ""
    return "/".join(str(p) for p in error.absolute_path)


def form_errors(schema: dict | None, data: dict, file_counts: dict[str, int] | None = None, *,
                now: datetime) -> dict[str, str]:
    """Field name → a readable message for every way the data fails the schema on `now` (empty when valid); an
    evidence field counts the files sent for it (`file_counts`), whose ids the engine gives it."""
    if not schema:
        return {}
    filled = with_defaults(schema, data)
    for name, count in (file_counts or {}).items():
        filled[name] = list(range(1, count + 1))
    errors: dict[str, str] = {}
    for error in form_validator(schema, now).iter_errors(filled):
        errors.setdefault(_field(error) or "__form__", _message(error))
    return errors


def engine_errors(details: list[dict]) -> dict[str, str]:
    """Errors the engine's own validation returned, keyed by field."""
    return {(d.get("field") or "__form__"): d.get("message", "") for d in details or []}


def check_date_error(value, now) -> str | None:
    """The page's message for a 检查时间 the engine refuses (a future day); None when it is a past day or today."""
    try:
        check_date(value, now)
    except InvalidFormData:
        return _("检查时间不能晚于今天（可补录过去的检查）") if _is_date(value) else _("请输入有效日期（年-月-日）")
    return None


def _is_date(value) -> bool:
    return _checker.conforms(str(value), "date")
