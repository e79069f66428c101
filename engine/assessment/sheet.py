"""The per-unit score sheet of one school and year, computed from that year's records.

Every figure carries the rows behind it (engine/assessment/sources.py), so the sheet links each score to its
records and stays explainable after it is frozen at submission. 一票否决: a veto condition's rows, or a total
below the pass mark, void the unit's eligibility for 评先 and mark its heads (department heads of the unit)
不合格 (seed 004: 主要负责人和分管负责人年度考核为不合格).
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.assessment.performance import units_of
from engine.assessment.sources import SOURCES, Window
from engine.org.models import OrgNode, RoleGrant, User

PASS, FAIL = "合格", "不合格"
FAILED_VETO = "failed"


def _score(kind: str, weight: float, rows: list[dict], params: dict) -> tuple[float, dict]:
    if kind == "rate":
        got, of = sum(r["got"] for r in rows), sum(r["of"] for r in rows)
        rate = got / of if of else 1.0
        return round(weight * rate, 2), {"got": got, "of": of, "rate": round(rate, 4), "count": len(rows)}
    deducted = min(weight, params.get("deduct", 0) * len(rows))
    return round(weight - deducted, 2), {"count": len(rows), "deducted": round(deducted, 2)}


def _heads(s: Session, unit_ids: list[int]) -> dict[int, list[dict]]:
    """The department heads of each unit (grants of department_head there, and the node's named head)."""
    heads: dict[int, dict[int, str]] = {u: {} for u in unit_ids}
    for org_id, user_id, name in s.execute(
            select(RoleGrant.org_id, User.id, User.display_name).join(User, User.id == RoleGrant.user_id)
            .where(RoleGrant.role == "department_head", RoleGrant.org_id.in_(unit_ids)).order_by(User.id)):
        heads[org_id][user_id] = name
    for org_id, user_id, name in s.execute(
            select(OrgNode.id, User.id, User.display_name).join(User, User.id == OrgNode.head_user_id)
            .where(OrgNode.id.in_(unit_ids))):
        heads[org_id].setdefault(user_id, name)
    return {u: [{"user_id": k, "name": v} for k, v in names.items()] for u, names in heads.items()}


def compute(s: Session, school: OrgNode, year: int, scheme: dict, as_of: datetime) -> dict:
    """The score sheet (JSON-ready): per unit its items (score, figure, records), vetoes, total and verdict."""
    window = Window(date(year, 1, 1), date(year, 12, 31), as_of, school)
    units = units_of(s, school)
    unit_ids = [u.id for u in units]
    fetched: dict[tuple, dict[int, list[dict]]] = {}
    rows_of: dict[str, dict[int, list[dict]]] = {}  # item or veto key -> its source's rows per unit
    for entry in [*scheme["items"], *scheme["vetoes"]]:
        # One fetch per source and parameters, however many entries share it.
        key = (entry["source"], tuple(sorted((k, v) for k, v in entry.items() if k not in ("key", "name", "weight"))))
        if key not in fetched:
            fetched[key] = SOURCES[entry["source"]].fetch(s, unit_ids, window, entry) if unit_ids else {}
        rows_of[entry["key"]] = fetched[key]
    heads = _heads(s, unit_ids) if unit_ids else {}
    rows = []
    for unit in units:
        items = []
        for entry in scheme["items"]:
            src = SOURCES[entry["source"]]
            records = rows_of[entry["key"]].get(unit.id, [])
            score, figure = _score(src.kind, entry["weight"], records, entry)
            items.append({"key": entry["key"], "name": entry["name"], "source": entry["source"], "kind": src.kind,
                          "weight": entry["weight"], "score": score, "figure": figure, "records": records})
        total = round(sum(i["score"] for i in items), 2)
        vetoes = [{"key": v["key"], "name": v["name"], "source": v["source"], "records": rows_of[v["key"]].get(unit.id, [])}
                  for v in scheme["vetoes"]]
        vetoes = [v for v in vetoes if v["records"]]
        if total < scheme["pass_mark"]:
            vetoes.append({"key": FAILED_VETO, "name": f"考核不达标（{total:g} 分，低于合格线 {scheme['pass_mark']:g} 分）",
                           "source": None, "records": []})
        verdict = FAIL if vetoes else PASS
        rows.append({"org_id": unit.id, "name": unit.name, "total": total, "items": items, "vetoes": vetoes,
                     "eligible": not vetoes, "verdict": verdict,
                     "heads": [{**h, "verdict": verdict} for h in heads.get(unit.id, [])]})
    return {"version": 1, "school": {"id": school.id, "name": school.name}, "year": year,
            "as_of": as_of.astimezone(timezone.utc).isoformat(), "scheme": scheme, "units": rows,
            "summary": {"units": len(rows), "passed": sum(1 for r in rows if r["eligible"]),
                        "vetoed": sum(1 for r in rows if not r["eligible"])}}


def figure_records(sheet: dict, org_id: int, key: str) -> tuple[dict, dict]:
    """The unit row and the item or veto `key` of a sheet (KeyError when absent): the records behind one figure."""
    unit = next(u for u in sheet["units"] if u["org_id"] == org_id)
    entry = next((e for e in [*unit["items"], *unit["vetoes"]] if e["key"] == key), None)
    if entry is None:
        raise KeyError(key)
    return unit, entry
