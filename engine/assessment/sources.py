"""The data sources an assessment item scores from: one registry, one function per source.

A source turns a year's records into rows per unit; every row names the record behind it (type and id) and
what it contributes (`got` out of `of`), so a score on the sheet links to its records. Three kinds:

* ``rate``: the item scores weight × Σgot / Σof (no rows: the full weight, nothing was due);
* ``deduction``: every row takes ``deduct`` points off the weight, down to zero;
* ``veto``: any row is 一票否决 (used in a scheme's ``vetoes``).

A new source is one decorated function returning {unit_id: [row, ...]}, e.g. `drills_held` below, which reads
another subject's read model (engine.drills.queries) and names each record it counts.

Two sources read subjects above the campaigns: ``drills_held`` (应急演练开展情况, a rate: 每学期至少2次 of seed 004,
drills held out of two per semester a drill schedule gave the unit) and ``supervision_reports`` (督导检查报告, a rate:
of the units a campaign's 牵头部门 were to supervise, those with a 督查报告 written about them). The report carries
no structured finding to deduct for, so what the sheet can judge is whether the unit's 督导检查 was done and written
up (seed 001: 督查报告作为各二级学院年终考核的依据); what it says stays on the record behind the row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.assessment.models import Accident
from engine.assessment.performance import records as inspection_records
from engine.campaigns.checklists import items_for_unit
from engine.campaigns.models import Campaign, ItemResult, MissedHazard
from engine.campaigns.supervision import supervisions_due
from engine.drills.models import EVALUATION_NAMES
from engine.drills.queries import REQUIRED_DRILLS, semester_drills
from engine.infra.timezone import CHINA
from engine.org.models import OrgNode
from engine.process.models import HumanTask
from engine.rectification.ledger import day_start
from engine.rectification.models import Hazard

KINDS = ("rate", "deduction", "veto")


@dataclass(frozen=True)
class Window:
    """The assessed period (China dates, inclusive) and the moment its figures are taken."""

    start: date
    end: date
    as_of: datetime
    school: OrgNode


Fetch = Callable[[Session, list[int], Window, dict], dict[int, list[dict]]]


@dataclass(frozen=True)
class Source:
    """A registered data source: its key, Chinese label, kind, and the parameters it takes (name → default)."""

    key: str
    label: str
    kind: str
    fetch: Fetch
    params: dict[str, float] = field(default_factory=dict)


SOURCES: dict[str, Source] = {}


def source(key: str, label: str, kind: str, **params: float):
    """Register `fetch(session, unit_ids, window, params) -> {unit_id: [row, ...]}` as data source `key`."""
    if kind not in KINDS:
        raise ValueError(f"source kind must be one of {KINDS}")

    def register(fetch: Fetch) -> Fetch:
        if key in SOURCES:
            raise ValueError(f"data source {key!r} is registered twice")
        SOURCES[key] = Source(key, label, kind, fetch, dict(params))
        return fetch

    return register


def row(type_: str, id_: int, label: str, on: date | datetime | None, got: float = 0, of: float = 1,
        note: str | None = None, **extra) -> dict:
    """One record behind a figure (JSON-ready)."""
    if isinstance(on, datetime):
        on = on.astimezone(CHINA).date()
    return {"type": type_, "id": id_, "label": label, "on": on.isoformat() if on else None, "got": got, "of": of,
            "note": note, **extra}


def _end_of(day: date) -> datetime:
    return day_start(day) + timedelta(days=1)


# -- inspections ---------------------------------------------------------------------------------------
def _on_time(kind: str):
    def fetch(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
        found = inspection_records(s, window.school, unit_ids, window.start, window.end, window.as_of)
        return {u: [{**r, "got": 1 if r["state"] == "done" else 0, "of": 1, "note": r["state"]}
                    for r in by_kind[kind] if r["state"] != "open"] for u, by_kind in found.items()}
    return fetch


source("patrols_on_time", "日常巡查按时完成率", "rate")(_on_time("patrol"))
source("self_checks_on_time", "自查报告按时签字上报率", "rate")(_on_time("self_check"))


@source("checklist_coverage", "自查检查表覆盖率", "rate")
def _coverage(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    found = inspection_records(s, window.school, unit_ids, window.start, window.end, window.as_of)
    cu_ids = [r["id"] for by_kind in found.values() for r in by_kind["self_check"]]
    answered = dict(s.execute(select(ItemResult.campaign_unit_id, func.count(func.distinct(ItemResult.item_id)))
                              .where(ItemResult.campaign_unit_id.in_(cu_ids))
                              .group_by(ItemResult.campaign_unit_id)).all()) if cu_ids else {}
    campaign_ids = {r["campaign_id"] for by_kind in found.values() for r in by_kind["self_check"]}
    campaigns = {c.id: c for c in s.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))}
    orgs = {o.id: o for o in s.scalars(select(OrgNode).where(OrgNode.id.in_(unit_ids)))}
    out = {}
    for unit_id, by_kind in found.items():
        out[unit_id] = []
        for r in by_kind["self_check"]:
            required = len(items_for_unit(campaigns[r["campaign_id"]].template, orgs[unit_id]))
            got = min(answered.get(r["id"], 0), required)
            out[unit_id].append({**r, "got": got, "of": required, "note": f"{got}/{required}"})
    return out


# -- drills and supervision ---------------------------------------------------------------------------
@source("drills_held", "应急演练开展情况", "rate")
def _drills(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    """每学期至少2次应急演练: per semester whose drill schedule closed its window (the occurrence's due_at) in the
    period, by the time the figures are taken: each drill the unit held there (the first two count), and what it
    still owed (0 of the missing number, named by the occurrence). A unit no drill schedule reached owes nothing."""
    due = semester_drills(s, window.school.id, unit_ids, day_start(window.start),
                          min(_end_of(window.end), window.as_of))
    out: dict[int, list[dict]] = {}
    for unit_id, semesters in due.items():
        out[unit_id] = []
        for owed in semesters:
            key = owed.occurrence.period_key
            for n, d in enumerate(owed.held):
                counts = n < REQUIRED_DRILLS
                out[unit_id].append(row("drill", d.id, f"{key} 第{d.sequence}次：{d.scenario}"[:200], d.held_on,
                                        1 if counts else 0, 1 if counts else 0,
                                        f"评估：{EVALUATION_NAMES.get(d.evaluation, '待评估')}", unit_id=unit_id,
                                        semester=key))
            if owed.missing:
                occurrence = owed.occurrence
                out[unit_id].append(row("drill_occurrence", occurrence.id, f"{key} 应急演练", occurrence.due_at, 0,
                                        owed.missing, f"少 {owed.missing} 次（每学期至少 {REQUIRED_DRILLS} 次）",
                                        schedule_id=occurrence.schedule_id, semester=key))
    return out


@source("supervision_reports", "督导检查报告", "rate")
def _supervision(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    """Each 督导检查 a 牵头部门 owed the unit in a school campaign whose 督导检查 stage ended in the period (its last
    day passed): the 督查报告 written (1 of 1), or the campaign unit still without it (0 of 1)."""
    last = min(window.end, window.as_of.astimezone(CHINA).date() - timedelta(days=1))
    out: dict[int, list[dict]] = {}
    for unit_id, dues in supervisions_due(s, window.school.id, unit_ids, window.start, last, window.as_of).items():
        out[unit_id] = []
        for due in dues:
            c, r = due.campaign, due.report
            if r is None:
                out[unit_id].append(row("campaign_unit", due.campaign_unit_id, c.title,
                                        date.fromisoformat(c.stages["supervision"]["end"]), 0, 1,
                                        f"{due.supervisor}未形成督查报告", campaign_id=c.id, org_id=unit_id))
            else:
                out[unit_id].append(row("supervision_report", r.id, f"{c.title}：{r.report}"[:200], r.at, 1, 1,
                                        f"{due.supervisor}督查报告", campaign_id=c.id))
    return out


# -- hazards -------------------------------------------------------------------------------------------
def _hazard_label(h) -> str:
    return f"{h.location}：{h.problem}"[:200]


def _with_deadline_in(unit_ids: list[int], window: Window):
    return select(Hazard).where(Hazard.unit_id.in_(unit_ids), Hazard.deadline >= window.start,
                                Hazard.deadline <= window.end).order_by(Hazard.deadline, Hazard.id)


@source("hazards_closed_on_time", "隐患按期整改销号率", "rate")
def _closed_on_time(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    """Hazards whose 整改期限 fell in the period and has passed: closed (销号) by the end of that day or not."""
    out: dict[int, list[dict]] = {u: [] for u in unit_ids}
    for h in s.scalars(_with_deadline_in(unit_ids, window)):
        due = _end_of(h.deadline)
        on_time = h.closed_at is not None and h.closed_at <= min(due, window.as_of)
        if due > window.as_of and not on_time:
            continue  # not due yet, still open: it counts next time
        out[h.unit_id].append(row("hazard", h.id, _hazard_label(h), h.deadline, 1 if on_time else 0, 1,
                                  "按期销号" if on_time else ("逾期销号" if h.closed_at else "逾期未销号")))
    return out


@source("overdue_hazards", "逾期未整改隐患", "deduction", deduct=2)
def _overdue(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    """Hazards past their 整改期限 (in the period) not closed by then: each one deducts."""
    out: dict[int, list[dict]] = {u: [] for u in unit_ids}
    for h in s.scalars(_with_deadline_in(unit_ids, window)):
        due = _end_of(h.deadline)
        if due <= window.as_of and (h.closed_at is None or h.closed_at > due):
            out[h.unit_id].append(row("hazard", h.id, _hazard_label(h), h.deadline,
                                      note="逾期销号" if h.closed_at and h.closed_at <= window.as_of else "逾期未销号"))
    return out


@source("missed_hazards", "应发现未发现", "deduction", deduct=5)
def _missed(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    """应发现未发现 records of the units (engine/campaigns/coverage.py), recorded in the period."""
    out: dict[int, list[dict]] = {u: [] for u in unit_ids}
    rows = s.execute(select(MissedHazard, Hazard).join(Hazard, Hazard.id == MissedHazard.hazard_id).where(
        MissedHazard.org_id.in_(unit_ids), MissedHazard.recorded_at >= day_start(window.start),
        MissedHazard.recorded_at < _end_of(window.end)).order_by(MissedHazard.recorded_at, MissedHazard.id))
    for missed, h in rows:
        out[missed.org_id].append(row("missed_hazard", missed.id, _hazard_label(h), missed.recorded_at,
                                      note=f"{missed.found_level}发现", hazard_id=h.id))
    return out


@source("major_report_late", "重大隐患未及时上报", "veto", within_hours=24)
def _major_late(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    """重大隐患即查即报: a 重大 hazard found in the period whose report upward (the diagram's `task`, by default
    review_major_report, opening for the bureau) came more than `within_hours` after it was found, or never came."""
    within = timedelta(hours=float(params.get("within_hours", 24)))
    task = str(params.get("task") or "review_major_report")
    reported = func.min(HumanTask.created_at).label("reported")
    stmt = (select(Hazard, reported).outerjoin(HumanTask, (HumanTask.hazard_id == Hazard.id)
                                               & (HumanTask.bpmn_id == task))
            .where(Hazard.unit_id.in_(unit_ids), Hazard.grade == "major",
                   Hazard.reported_at >= day_start(window.start), Hazard.reported_at < _end_of(window.end))
            .group_by(Hazard.id).order_by(Hazard.id))
    out: dict[int, list[dict]] = {u: [] for u in unit_ids}
    for h, up in s.execute(stmt):
        if up is None and h.reported_at + within < window.as_of:
            note = "未上报"
        elif up is not None and up - h.reported_at > within:
            hours = (up - h.reported_at).total_seconds() / 3600
            note = f"发现后 {hours:.0f} 小时上报"
        else:
            continue
        out[h.unit_id].append(row("hazard", h.id, _hazard_label(h), h.reported_at, note=note))
    return out


@source("accidents", "发生安全责任事故", "veto")
def _accidents(s: Session, unit_ids: list[int], window: Window, params: dict) -> dict[int, list[dict]]:
    """Accident records of the units in the period (recorded by the security office)."""
    out: dict[int, list[dict]] = {u: [] for u in unit_ids}
    for a in s.scalars(select(Accident).where(Accident.unit_id.in_(unit_ids), Accident.occurred_on >= window.start,
                                              Accident.occurred_on <= window.end).order_by(Accident.occurred_on)):
        out[a.unit_id].append(row("accident", a.id, a.description[:200], a.occurred_on))
    return out
