"""Shipped schedule sets (bpmn/schedules/*.json, e.g. seed 004's four) and installing one for a school.

A set names its schedules generically: cadences, site types with the kinds of unit that usually manage them
(`managed_by`, matched against the school's unit names in order), checklist names. Installing resolves those
against one school and creates concrete schedules, each tagged `<set>:<key>` so a second install adds nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select

from engine.campaigns import checklists
from engine.infra.errors import NotFound, RectiflowError
from engine.org.models import OrgNode
from engine.schedules.models import InspectionSchedule
from engine.schedules.service import Schedules, template_by_name

SCHEDULE_DIR = "schedules"


@dataclass
class Installed:
    """What an install did: schedules created (key, id), already there, and what could not be resolved."""

    created: list[tuple[str, int]] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def shipped_sets(bpmn_dir: Path) -> list[Path]:
    """The schedule sets shipped beside the diagrams."""
    return sorted((Path(bpmn_dir) / SCHEDULE_DIR).glob("*.json"))


def load_set(path: Path) -> dict:
    """Read one schedule set file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data.get("schedules"), list):
        raise RectiflowError(f"{Path(path).name}: expected a list under 'schedules'")
    return data


def _resolve_sites(site_types: list[dict], units: list[OrgNode],
                   overrides: dict[str, int]) -> tuple[list[dict], list[str]]:
    """Group site types under the unit that manages each; returns (target units, unresolved sites)."""
    by_name = {u.name: u.id for u in units}
    grouped: dict[int, list[str]] = {}
    unresolved = []
    for entry in site_types:
        site = entry["site"]
        unit_id = overrides.get(site) or next((by_name[n] for n in entry.get("managed_by", []) if n in by_name), None)
        if unit_id is None:
            unresolved.append(site)
            continue
        grouped.setdefault(unit_id, []).append(site)
    return [{"org_id": unit_id, "sites": sites} for unit_id, sites in grouped.items()], unresolved


def install_set(services, school_id: int, user_id: int, path: Path | None = None,
                site_units: dict[str, int] | None = None, starts_on: date | None = None) -> Installed:
    """Create a school's schedules from a set file (default: seed 004's); already installed ones are kept."""
    path = Path(path) if path else Path(services.bpmn_dir) / SCHEDULE_DIR / "seed004.json"
    spec = load_set(path)
    name = spec.get("name") or path.stem
    result = Installed()
    with services.uow() as uow:
        s = uow.session
        school = s.get(OrgNode, school_id)
        if school is None or school.kind != "school":
            raise NotFound(f"school {school_id} does not exist")
        units = list(s.scalars(select(OrgNode).where(OrgNode.kind == "unit", OrgNode.path.startswith(school.path))
                               .order_by(OrgNode.path)))
        have = set(s.scalars(select(InspectionSchedule.source).where(InspectionSchedule.org_id == school_id)))
        wanted = {e["checklist"] for e in spec["schedules"] if e.get("checklist")}
        if any(template_by_name(s, n) is None for n in wanted):
            checklists.load_shipped(s, services.bpmn_dir, services.clock.now())
        templates = {n: getattr(template_by_name(s, n), "id", None) for n in wanted}
        uow.commit()
    schedules = Schedules(services)
    for entry in spec["schedules"]:
        source = f"{name}:{entry['key']}"
        if source in have:
            result.existing.append(entry["key"])
            continue
        target = dict(entry.get("target") or {})
        if "site_types" in target:
            target["units"], unresolved = _resolve_sites(target.pop("site_types"), units, site_units or {})
            result.problems += [f"{entry['key']}: no unit of {school.name} manages {site}" for site in unresolved]
            if not target["units"]:
                continue
        data = {key: entry.get(key) for key in ("title", "cadence", "weekday", "day", "semester_starts", "kind",
                                                "window")}
        data.update(school_id=school_id, target=target, starts_on=starts_on)
        if entry.get("checklist"):
            data["template_id"] = templates.get(entry["checklist"])
            if data["template_id"] is None:
                result.problems.append(f"{entry['key']}: checklist {entry['checklist']!r} is not loaded")
                continue
        schedule = schedules.create_schedule(user_id, data, source=source)
        result.created.append((entry["key"], schedule.id))
    return result
