"""What a 回头看 samples from (seed 002): closed hazards under the organiser, narrowed by filters.

The filters are recorded on the look-back with its seed (`campaigns.sample_filters`), so the same seed and
filters draw the same sample again:

* `source`: where the hazard was found (自查自纠, 联检联查, 督导检查, ...), one or several;
* `grade`: 一般 or 重大, one or several;
* `category`: the hazard's category, one or several;
* `closed_from`, `closed_to`: the 销号 date (China time), inclusive;
* `unit_ids`: hazards of these units (a school or bureau stands for everything below it);
* `campaign_id`: hazards found in this campaign.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData
from engine.infra.timezone import CHINA, as_date
from engine.org.models import OrgNode
from engine.rectification.models import Hazard

LIST_FILTERS = ("source", "grade", "category")
FILTER_KEYS = (*LIST_FILTERS, "closed_from", "closed_to", "unit_ids", "campaign_id")
MAX_VALUES = 50  # per list filter


def _error(field: str, message: str) -> InvalidFormData:
    return InvalidFormData(f"filters.{field}: {message}", [{"field": f"filters.{field}", "message": message}])


def _strings(field: str, value) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or len(values) > MAX_VALUES:
        raise _error(field, f"give one value or a list of 1 to {MAX_VALUES} values")
    cleaned = []
    for item in values:
        if not isinstance(item, str) or not item.strip() or len(item) > 64:
            raise _error(field, "each value is a text of 1 to 64 characters")
        cleaned.append(item.strip())
    return sorted(set(cleaned))


def _ids(field: str, value) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_VALUES or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                         for v in values):
        raise _error(field, f"give 1 to {MAX_VALUES} positive ids")
    return sorted(set(values))


def normalise_filters(s: Session, org: OrgNode, raw: dict | None) -> dict | None:
    """The filters checked and in their stored form (sorted lists, ISO dates); None when there are none.

    Unknown keys, malformed values, a period that ends before it starts and units outside the organiser's
    subtree are InvalidFormData with one field error each (`filters.<key>`)."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise _error("filters", "filters are an object")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise _error(unknown[0], f"unknown filter; expected one of {', '.join(FILTER_KEYS)}")
    out: dict = {}
    for key in LIST_FILTERS:
        if raw.get(key) not in (None, "", []):
            out[key] = _strings(key, raw[key])
    for key in ("closed_from", "closed_to"):
        if raw.get(key) not in (None, ""):
            try:
                out[key] = as_date(raw[key]).isoformat()
            except (TypeError, ValueError):
                raise _error(key, "not a date (YYYY-MM-DD)") from None
    if "closed_from" in out and "closed_to" in out and out["closed_to"] < out["closed_from"]:
        raise _error("closed_to", "the period ends before it starts")
    if raw.get("unit_ids") not in (None, []):
        ids = _ids("unit_ids", raw["unit_ids"])
        inside = set(s.scalars(select(OrgNode.id).where(OrgNode.id.in_(ids), OrgNode.path.startswith(org.path))))
        outside = [i for i in ids if i not in inside]
        if outside:
            raise _error("unit_ids", f"not under {org.name}: {', '.join(map(str, outside))}")
        out["unit_ids"] = ids
    if raw.get("campaign_id") not in (None, ""):
        campaign_id = raw["campaign_id"]
        if isinstance(campaign_id, str) and campaign_id.isdigit():
            campaign_id = int(campaign_id)
        if not isinstance(campaign_id, int) or isinstance(campaign_id, bool) or campaign_id < 1:
            raise _error("campaign_id", "give one campaign id")
        out["campaign_id"] = campaign_id
    return out or None


def _day_start(iso: str) -> datetime:
    return datetime.combine(as_date(iso), time.min, CHINA).astimezone(timezone.utc)


def filter_clauses(s: Session, filters: dict | None) -> list:
    """WHERE clauses over Hazard for stored filters (see normalise_filters)."""
    filters = filters or {}
    clauses = [getattr(Hazard, key).in_(filters[key]) for key in LIST_FILTERS if filters.get(key)]
    if filters.get("closed_from"):
        clauses.append(Hazard.closed_at >= _day_start(filters["closed_from"]))
    if filters.get("closed_to"):
        clauses.append(Hazard.closed_at < _day_start(filters["closed_to"]) + timedelta(days=1))
    if filters.get("unit_ids"):
        paths = s.scalars(select(OrgNode.path).where(OrgNode.id.in_(filters["unit_ids"])))
        unit_paths = [OrgNode.path.startswith(path) for path in paths]
        clauses.append(Hazard.unit_id.in_(select(OrgNode.id).where(or_(*unit_paths))))
    if filters.get("campaign_id"):
        clauses.append(Hazard.campaign_id == filters["campaign_id"])
    return clauses
