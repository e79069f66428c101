"""A school's scoring scheme: the shipped default (bpmn/assessment/default.json) or the school's own, validated.

A scheme is data: a title, a pass mark (合格线), items (key, Chinese name, weight, data source and its parameters)
whose weights sum to 100, and 一票否决 conditions (key, name, data source). Failing the pass mark is itself a veto.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.assessment.models import AssessmentScheme
from engine.assessment.sources import SOURCES
from engine.infra.config import DEFAULT_BPMN_DIR
from engine.infra.errors import InvalidFormData

DEFAULT_FILE = DEFAULT_BPMN_DIR / "assessment" / "default.json"
TOTAL_WEIGHT = 100
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_FIXED = {"key", "name", "weight", "source"}


@lru_cache(maxsize=4)
def _load(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def default_scheme(path: Path = DEFAULT_FILE) -> dict:
    """The shipped scheme (a fresh copy each call)."""
    return validate(json.loads(_load(path)))


def scheme_for(s: Session, school_id: int) -> dict:
    """The school's scheme, or the default when it has none of its own."""
    own = s.scalar(select(AssessmentScheme.scheme).where(AssessmentScheme.school_id == school_id))
    return dict(own) if own else default_scheme()


def _number(value, field: str, errors: list[dict], low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append({"field": field, "message": "a number"})
        return None
    if not low <= value <= high:
        errors.append({"field": field, "message": f"between {low:g} and {high:g}"})
        return None
    return float(value) if not float(value).is_integer() else int(value)


def _entry(raw, field: str, kinds: tuple[str, ...], weighted: bool, seen: set, errors: list[dict]) -> dict | None:
    if not isinstance(raw, dict):
        errors.append({"field": field, "message": "an object"})
        return None
    before = len(errors)
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        errors.append({"field": f"{field}.key", "message": "lower-case letters, digits and _ (at most 40)"})
    elif key in seen:
        errors.append({"field": f"{field}.key", "message": f"{key!r} is used twice"})
    seen.add(key)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        errors.append({"field": f"{field}.name", "message": "required, at most 100 characters"})
    src = SOURCES.get(raw.get("source"))
    if src is None or src.kind not in kinds:
        known = ", ".join(k for k, v in SOURCES.items() if v.kind in kinds)
        errors.append({"field": f"{field}.source", "message": f"unknown data source (known: {known})"})
    entry = {"key": key, "name": name.strip() if isinstance(name, str) else name,
             "source": raw.get("source")}
    if weighted:
        entry["weight"] = _number(raw.get("weight"), f"{field}.weight", errors, 0.5, TOTAL_WEIGHT)
    unknown = set(raw) - _FIXED - (set(src.params) if src else set())
    if unknown:
        errors.append({"field": f"{field}", "message": f"unknown parameter(s): {', '.join(sorted(unknown))}"})
    for param, default in (src.params if src else {}).items():
        entry[param] = _number(raw.get(param, default), f"{field}.{param}", errors, 0.01, 10000)
    return entry if len(errors) == before else None


def validate(raw) -> dict:
    """The checked scheme; InvalidFormData naming every bad field (weights must sum to 100, sources be known)."""
    errors: list[dict] = []
    if not isinstance(raw, dict):
        raise InvalidFormData("the scheme must be an object", [{"field": "", "message": "an object"}])
    title = raw.get("title") or "安全工作考核评分表"
    if not isinstance(title, str) or len(title) > 200:
        errors.append({"field": "title", "message": "at most 200 characters"})
    pass_mark = _number(raw.get("pass_mark"), "pass_mark", errors, 0, TOTAL_WEIGHT)
    items_raw, vetoes_raw = raw.get("items"), raw.get("vetoes", [])
    if not isinstance(items_raw, list) or not items_raw:
        errors.append({"field": "items", "message": "at least one item"})
        items_raw = []
    if not isinstance(vetoes_raw, list):
        errors.append({"field": "vetoes", "message": "a list"})
        vetoes_raw = []
    seen: set = set()
    items = [_entry(r, f"items.{n}", ("rate", "deduction"), True, seen, errors) for n, r in enumerate(items_raw)]
    vetoes = [_entry(r, f"vetoes.{n}", ("veto", "deduction"), False, seen, errors) for n, r in enumerate(vetoes_raw)]
    if items and all(items):
        total = sum(i["weight"] for i in items)
        if abs(total - TOTAL_WEIGHT) > 0.001:
            errors.append({"field": "items", "message": f"the weights sum to {total:g}, not {TOTAL_WEIGHT}"})
    if errors:
        raise InvalidFormData("invalid assessment scheme: " + "; ".join(f"{e['field']}: {e['message']}"
                                                                         for e in errors[:5]), errors)
    return {"title": title, "pass_mark": pass_mark, "items": items, "vetoes": vetoes}


def with_weights(scheme: dict, weights: dict[str, float], pass_mark: float | None) -> dict:
    """The scheme with some items' weights and the pass mark changed (what the adjust page sends), validated."""
    unknown = set(weights) - {i["key"] for i in scheme["items"]}
    if unknown:
        raise InvalidFormData("unknown items", [{"field": f"weights.{k}", "message": "no such item"}
                                                for k in sorted(unknown)])
    changed = {**scheme, "items": [{**i, "weight": weights.get(i["key"], i["weight"])} for i in scheme["items"]]}
    if pass_mark is not None:
        changed["pass_mark"] = pass_mark
    return validate(changed)
