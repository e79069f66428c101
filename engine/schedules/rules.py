"""What a valid inspection schedule is: every field checked at once, errors named by field (InvalidFormData)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from engine.campaigns.models import ChecklistTemplate
from engine.infra.errors import InvalidFormData
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode
from engine.schedules.cadence import parse_semester_starts, parse_window
from engine.schedules.models import CADENCES, SCHEDULE_KINDS

# A semester's work is due before its exams: about four and a half months after it starts (mid-July, mid-January).
DEFAULT_WINDOWS = {"daily": "P1D", "weekly": "P1D", "monthly": "P7D", "quarterly": "P30D", "semester": "P4M15D"}


def _int_or_none(value, name: str, low: int, high: int, errors: list[dict]) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.append({"field": name, "message": "must be a whole number"})
        return None
    if not low <= number <= high:
        errors.append({"field": name, "message": f"must be between {low} and {high}"})
    return number


def _sites(raw, field: str, errors: list[dict]) -> list[str]:
    if raw in (None, ""):
        return []
    items = raw.replace("，", "、").replace(",", "、").split("、") if isinstance(raw, str) else raw
    if not isinstance(items, list):
        errors.append({"field": field, "message": "a list of site names"})
        return []
    sites = [str(x).strip() for x in items if str(x).strip()]
    if len(sites) > 50 or any(len(x) > 100 for x in sites):
        errors.append({"field": field, "message": "at most 50 sites of at most 100 characters each"})
    return list(dict.fromkeys(sites))


def _target(s: Session, school: OrgNode, raw, kind: str, roles: set[str], errors: list[dict]) -> dict:

    if raw is not None and not isinstance(raw, dict):
        errors.append({"field": "target", "message": "an object"})
    raw = raw if isinstance(raw, dict) else {}
    before = len(errors)
    role = raw.get("role") or "department_staff"
    if kind == "patrol" and role not in roles:
        errors.append({"field": "target.role",
                       "message": f"the patrol diagram has no lane {role!r} (lanes: {', '.join(sorted(roles))})"})
    all_units = bool(raw.get("all_units"))
    units = []
    school_level = kind == "patrol" and role in SCHOOL_LEVEL_ROLES
    for n, entry in enumerate(raw.get("units") or []):
        if not isinstance(entry, dict) or not str(entry.get("org_id", "")).isdigit():
            errors.append({"field": f"target.units.{n}.org_id", "message": "an organisation id"})
            continue
        org = s.get(OrgNode, int(entry["org_id"]))
        if school_level:
            ok = org is not None and org.id == school.id
            why = f"a {role} patrol goes to the school itself ({school.id})"
        else:
            ok = org is not None and org.kind in ("unit", "grid") and org.path.startswith(school.path)
            why = f"not a unit of {school.name}"
        if not ok:
            errors.append({"field": f"target.units.{n}.org_id", "message": why})
            continue
        units.append({"org_id": org.id, "sites": _sites(entry.get("sites"), f"target.units.{n}.sites", errors)})
    if all_units and school_level:
        errors.append({"field": "target.all_units", "message": f"a {role} patrol is for the school, not every unit"})
    if school_level and not units and len(errors) == before:
        units = [{"org_id": school.id, "sites": _sites(raw.get("sites"), "target.sites", errors)}]
    if not all_units and not units:
        errors.append({"field": "target.units", "message": "choose at least one unit, or all units"})
    return {"role": role if kind == "patrol" else None, "all_units": all_units, "units": [] if all_units else units}


def normalise(s: Session, school: OrgNode, data: dict, roles: set[str], now: datetime) -> tuple[dict, date]:
    """Checked column values of a new schedule and the day its first period contains; InvalidFormData otherwise."""
    errors: list[dict] = []
    title = str(data.get("title") or "").strip()
    if not title or len(title) > 200:
        errors.append({"field": "title", "message": "required, at most 200 characters"})
    cadence = data.get("cadence")
    if cadence not in CADENCES:
        errors.append({"field": "cadence", "message": f"one of {', '.join(CADENCES)}"})
    kind = data.get("kind") or "patrol"
    if kind not in SCHEDULE_KINDS:
        errors.append({"field": "kind", "message": f"one of {', '.join(SCHEDULE_KINDS)}"})
    weekday = _int_or_none(data.get("weekday"), "weekday", 1, 7, errors) if cadence == "weekly" else None
    if cadence == "weekly" and weekday is None and not any(e["field"] == "weekday" for e in errors):
        errors.append({"field": "weekday", "message": "required for a weekly schedule (1 = Monday … 7 = Sunday)"})
    day = (_int_or_none(data.get("day"), "day", 1, 28, errors) if cadence in ("monthly", "quarterly") else None)
    semester_starts = None
    if cadence == "semester" and data.get("semester_starts"):
        try:
            semester_starts = [f"{m:02d}-{d:02d}" for m, d in parse_semester_starts(data["semester_starts"])]
        except (TypeError, ValueError) as exc:
            errors.append({"field": "semester_starts", "message": str(exc)})
    window = str(data.get("window") or DEFAULT_WINDOWS.get(cadence, "P1D")).strip().upper()
    try:
        span = parse_window(window, now.astimezone(CHINA))
        if kind == "campaign" and span.days < 4:
            errors.append({"field": "window", "message": "a campaign needs a window of at least P4D (four stages)"})
    except ValueError as exc:
        errors.append({"field": "window", "message": str(exc)})
    template_id = None
    if kind == "campaign":
        template_id = _int_or_none(data.get("template_id"), "template_id", 1, 2**31 - 1, errors)
        if template_id is None and not any(e["field"] == "template_id" for e in errors):
            errors.append({"field": "template_id", "message": "a campaign needs a checklist template"})
        elif template_id is not None and s.get(ChecklistTemplate, template_id) is None:
            errors.append({"field": "template_id", "message": f"checklist {template_id} does not exist"})
    target = _target(s, school, data.get("target"), kind, roles, errors)
    starts_on = now.astimezone(CHINA).date()
    if data.get("starts_on"):
        try:
            raw = data["starts_on"]
            starts_on = raw if isinstance(raw, date) else date.fromisoformat(str(raw)[:10])
        except ValueError:
            errors.append({"field": "starts_on", "message": "a date (YYYY-MM-DD)"})
    if errors:
        raise InvalidFormData("invalid schedule: " + ", ".join(dict.fromkeys(e["field"] for e in errors)), errors)
    return ({"title": title, "cadence": cadence, "weekday": weekday, "day": day, "kind": kind, "window": window,
             "template_id": template_id, "target": target, "semester_starts": semester_starts}, starts_on)


# Roles granted at the school (not at a unit): a patrol for them goes to the school node itself.
SCHOOL_LEVEL_ROLES = {"security_office", "inspector", "leader"}
