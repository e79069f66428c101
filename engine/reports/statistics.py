"""The statistics table (隐患问题统计表) of a scope and a period, as of a moment: pure read-side queries.

A scope is an organisation subtree (a unit, a school, a bureau: OrgNode.path prefix over the hazard's responsible
unit), optionally one campaign's hazards. Figures describe the state at `as_of`, not now: a hazard exists once
reported (reported_at <= as_of), or, entered after the day of its 检查时间 (a paper inspection typed in later),
from that day (found_at <= as_of), and is closed (销号) once closed_at <= as_of, so a hazard closed after a report date
still counts open on that date; its lifecycle stage and whether it was overdue come from the task rows open at
that moment (created_at <= as_of < completed_at). At as_of = now every figure equals what the ledger
(engine/ledger.py) and the inbox's overdue view (engine/queries.py: a ready task with due_at < now) show.

Everything comes from one GROUP BY over (unit, category, grade, source) and one over the lifecycle stage; the
breakdowns are sums of those few rows, never of hazards loaded into Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, exists, false, func, or_, select
from sqlalchemy.orm import Session

from engine.campaigns.models import Campaign, CampaignUnit
from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.infra.timezone import CHINA, END_OF_WORKDAY
from engine.org.models import OrgNode, User
from engine.process.models import HumanTask, ProcessDefinition
from engine.rectification.hazards import HAZARD_PROCESS, STAGE_ORDER
from engine.rectification.ledger import day_start, hazard_filters
from engine.rectification.models import Hazard

COUNTS = ("total", "open", "closed", "overdue", "found_in_period", "closed_in_period")
UNGRADED = ""  # a hazard not yet graded by the security office (登记评估 still open)
CLOSED = "closed"
# Who may read statistics, and for which subtree: the org node of the grant (a head: the unit only).
STATISTICS_ROLES = ("security_office", "leader", "department_head", "supervisor", "admin")
SCOPE_KINDS = ("province", "city", "county", "school", "unit")
# Chinese titles the engine writes into the Excel file and the stored figures (the pages translate them).
STAGE_TITLES = {"discover": "待登记", "register": "登记评估中", "report": "即查即报", "rectify": "治理整改中",
                "accept": "待验收", "close": "待销号", "archive": "已备案", CLOSED: "已销号"}
UNGRADED_TITLE = "未定级"
# Used when no diagram is deployed or its forms offer no choices (fresh database, a trimmed diagram).
DEFAULT_GRADES = {"general": "一般隐患", "major": "重大隐患"}


@dataclass(frozen=True)
class _CubeRow:
    unit_id: int
    category: str
    grade: str
    source: str
    total: int
    open: int
    closed: int
    overdue: int
    found_in_period: int
    closed_in_period: int


@dataclass(frozen=True)
class Query:
    """What to count: the scope org, an optional campaign, the period (China dates, inclusive) and the moment."""

    org_id: int
    start: date
    end: date
    as_of: datetime
    campaign_id: int | None = None


def report_moment(day: date) -> datetime:
    """The moment a report date's figures are taken: 18:00 China time that day (end of the working day)."""
    return datetime.combine(day, END_OF_WORKDAY, CHINA).astimezone(timezone.utc)


def parse_as_of(value, now: datetime) -> datetime:
    """An as-of moment from a date (its 18:00 China), an ISO datetime or None (now); never later than now."""
    if value in (None, ""):
        return now
    try:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=CHINA)
        elif isinstance(value, date):
            moment = report_moment(value)
        elif len(str(value).strip()) == 10:
            moment = report_moment(date.fromisoformat(str(value).strip()))
        else:
            parsed = datetime.fromisoformat(str(value).strip())
            moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)
    except ValueError:
        raise InvalidFormData(f"as_of {value!r} is not a date or datetime",
                              [{"field": "as_of", "message": "use YYYY-MM-DD or an ISO datetime"}]) from None
    # Figures for a moment still to come would freeze today's state under tomorrow's name (and count tasks
    # due later today as overdue): the future is now.
    return min(moment.astimezone(timezone.utc), now)


def _choices(forms: dict, field: str) -> dict[str, str]:
    """The options (const → title) a field offers in the hazard diagram's forms, in form order."""
    for schema in forms.values():
        prop = ((schema or {}).get("properties") or {}).get(field) if isinstance(schema, dict) else None
        if prop and prop.get("oneOf"):
            return {str(o["const"]): str(o.get("title") or o["const"]) for o in prop["oneOf"] if "const" in o}
    return {}


def _hazard_forms(s: Session) -> dict:
    """The forms of the latest deployed hazard diagram (where categories, grades and sources are configured)."""
    return s.scalar(select(ProcessDefinition.forms).where(ProcessDefinition.key == HAZARD_PROCESS)
                    .order_by(ProcessDefinition.version.desc()).limit(1)) or {}


def found_by(as_of: datetime):
    """Clause over Hazard: it had been found by `as_of`: reported by then, or entered later with a 检查时间 by then."""
    return or_(Hazard.reported_at <= as_of, Hazard.found_at <= as_of)


def _open_task_at(as_of: datetime):
    """A task row open at `as_of` (at now: state ready); completed or cancelled rows carry completed_at."""
    return and_(HumanTask.created_at <= as_of, or_(HumanTask.completed_at.is_(None), HumanTask.completed_at > as_of))


def overdue_at(as_of: datetime):
    """Clause over Hazard: it had an open task past its due time at `as_of` (the inbox's overdue rule, in time)."""
    return exists().where(HumanTask.hazard_id == Hazard.id, _open_task_at(as_of), HumanTask.due_at < as_of)


def _stages_at(as_of: datetime, where: list):
    """Per hazard matching `where`, its lifecycle stage at `as_of` as an index into STAGE_ORDER: the furthest stage
    among its tasks open then (the projector's rule), else the stage it is in now. One outer join, grouped by
    hazard (cheaper than a correlated subquery per hazard)."""
    order = {stage: n for n, stage in enumerate(STAGE_ORDER)}
    from_tasks = func.max(case(order, value=HumanTask.stage, else_=None))
    stage = func.coalesce(from_tasks, func.max(case(order, value=Hazard.status, else_=0)))
    return (select(stage.label("stage"))
            .select_from(Hazard).outerjoin(HumanTask, and_(HumanTask.hazard_id == Hazard.id, _open_task_at(as_of)))
            .where(*where).group_by(Hazard.id).subquery())


def _scope_clause(org: OrgNode, campaign_id: int | None) -> list:
    where = [Hazard.unit_id.in_(select(OrgNode.id).where(OrgNode.path.startswith(org.path)))]
    if campaign_id is not None:
        where.append(Hazard.campaign_id == campaign_id)
    return where


def _zero() -> dict:
    return {name: 0 for name in COUNTS}


def _add(into: dict, row) -> None:
    for name in COUNTS:
        into[name] += getattr(row, name)


def compute(s: Session, query: Query) -> dict:
    """The statistics figures (JSON-ready) of one scope, period and moment."""
    org = s.get(OrgNode, query.org_id)
    if org is None:
        raise NotFound(f"organisation {query.org_id} does not exist")
    if query.start > query.end:
        raise InvalidFormData("the period starts after it ends",
                              [{"field": "start", "message": f"{query.start} is after {query.end}"}])
    campaign = s.get(Campaign, query.campaign_id) if query.campaign_id is not None else None
    if query.campaign_id is not None and campaign is None:
        raise NotFound(f"campaign {query.campaign_id} does not exist")
    as_of = query.as_of
    exists_ = found_by(as_of)
    closed = and_(exists_, Hazard.closed_at.is_not(None), Hazard.closed_at <= as_of)
    open_ = and_(exists_, or_(Hazard.closed_at.is_(None), Hazard.closed_at > as_of))
    found = and_(exists_, *hazard_filters(date_from=query.start, date_to=query.end))
    closed_in = and_(closed, Hazard.closed_at >= day_start(query.start),
                     Hazard.closed_at < day_start(query.end) + timedelta(days=1))
    overdue = and_(open_, overdue_at(as_of))

    def tally(cond, name):
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0).label(name)

    where = [*_scope_clause(org, query.campaign_id), exists_]
    # Grouped by plain columns only: PostgreSQL cannot match an expression with bound parameters in the select
    # list to the same expression in GROUP BY.
    stmt = (select(Hazard.unit_id, Hazard.category, Hazard.grade, Hazard.source, func.count().label("total"),
                   tally(open_, "open"), tally(closed, "closed"), tally(overdue, "overdue"),
                   tally(found, "found_in_period"), tally(closed_in, "closed_in_period"))
            .where(*where).group_by(Hazard.unit_id, Hazard.category, Hazard.grade, Hazard.source))
    cube = [_CubeRow(r.unit_id, r.category, r.grade or UNGRADED, r.source, *(int(getattr(r, n) or 0) for n in COUNTS))
            for r in s.execute(stmt)]
    per_hazard = _stages_at(as_of, [*where, open_])
    stages = {int(n): int(count) for n, count in s.execute(
        select(per_hazard.c.stage, func.count()).group_by(per_hazard.c.stage))}
    return _assemble(s, org, campaign, query, cube, stages)


def _assemble(s: Session, org: OrgNode, campaign: Campaign | None, query: Query, cube, stages: dict) -> dict:
    forms = _hazard_forms(s)
    categories = _choices(forms, "category")
    grades = _choices(forms, "grade") or dict(DEFAULT_GRADES)
    sources = _choices(forms, "source")
    for row in cube:  # values no longer offered by the form (an older diagram) still count, under their code
        categories.setdefault(row.category, row.category)
        if row.grade != UNGRADED:
            grades.setdefault(row.grade, row.grade)
        sources.setdefault(row.source, row.source)
    grade_keys = [*grades, UNGRADED]
    totals = _zero()
    by = {"category": {k: _zero() for k in categories}, "grade": {k: _zero() for k in grade_keys},
          "source": {k: _zero() for k in sources}, "unit": {}}
    category_grade = {k: {g: 0 for g in grade_keys} for k in categories}
    unit_grade: dict[int, dict] = {}
    for row in cube:
        _add(totals, row)
        _add(by["category"][row.category], row)
        _add(by["grade"][row.grade], row)
        _add(by["source"][row.source], row)
        _add(by["unit"].setdefault(row.unit_id, _zero()), row)
        category_grade[row.category][row.grade] += int(row.total)
        unit_grade.setdefault(row.unit_id, {g: 0 for g in grade_keys})[row.grade] += int(row.total)
    grade_titles = {**grades, UNGRADED: UNGRADED_TITLE}
    units, schools = _units(s, org, campaign, set(by["unit"]))
    unit_rows = [{"key": u.id, "label": u.name, "kind": u.kind, **by["unit"].get(u.id, _zero()),
                  "grades": unit_grade.get(u.id, {g: 0 for g in grade_keys})} for u in units]
    figures = {
        "version": 1,
        "scope": {"org_id": org.id, "org_name": org.name, "org_kind": org.kind,
                  "campaign_id": campaign.id if campaign else None,
                  "campaign_title": campaign.title if campaign else None},
        "period": {"start": query.start.isoformat(), "end": query.end.isoformat()},
        "as_of": query.as_of.astimezone(timezone.utc).isoformat(),
        "labels": {"grade": grade_titles, "category": categories, "source": sources, "stage": dict(STAGE_TITLES)},
        "totals": {**totals, "closure_rate": _rate(totals)},
        "by_category": [{"key": k, "label": categories[k], **v, "grades": category_grade[k]}
                        for k, v in by["category"].items()],
        "by_grade": [{"key": k, "label": grade_titles[k], **v} for k, v in by["grade"].items()],
        "by_source": [{"key": k, "label": sources[k], **v} for k, v in by["source"].items()],
        "by_unit": unit_rows,
        "by_status": _status_rows(stages, totals["closed"]),
    }
    if schools:
        figures["by_school"] = _school_rows(schools, units, unit_rows)
    return figures


def _rate(counts: dict) -> float | None:
    """Share of the hazards that are closed (整改率/销号率), or None when there are none."""
    return round(counts["closed"] / counts["total"], 4) if counts["total"] else None


def _status_rows(stages: dict[int, int], closed: int) -> list[dict]:
    """Open hazards by lifecycle stage at the moment, then the closed ones (the ledger's 未销号/已销号 split)."""
    rows = [{"key": name, "label": STAGE_TITLES[name], "open": True, "count": stages.get(n, 0)}
            for n, name in enumerate(STAGE_ORDER) if name != "archive" or stages.get(n)]
    rows.append({"key": CLOSED, "label": STAGE_TITLES[CLOSED], "open": False, "count": closed})
    return rows


def _units(s: Session, org: OrgNode, campaign: Campaign | None, with_hazards: set[int]):
    """The rows of the by-unit table: the campaign's units, or every unit under the scope, plus any node that
    holds hazards (a school reporting for itself); and the schools, when the scope is above school level."""
    wanted = or_(OrgNode.id.in_(with_hazards) if with_hazards else false(),
                 OrgNode.id.in_(select(CampaignUnit.org_id).where(CampaignUnit.campaign_id == campaign.id))
                 if campaign is not None else OrgNode.kind == "unit")
    nodes = list(s.scalars(select(OrgNode).where(OrgNode.path.startswith(org.path),
                                                 or_(wanted, OrgNode.kind == "school")).order_by(OrgNode.path)))
    schools = [n for n in nodes if n.kind == "school"] if org.kind not in ("school", "unit") else []
    units = [n for n in nodes if n.kind != "school" or n.id in with_hazards]
    return units, schools


def _school_rows(schools: list[OrgNode], units: list[OrgNode], unit_rows: list[dict]) -> list[dict]:
    rows = []
    for school in schools:
        counts = _zero()
        for unit, row in zip(units, unit_rows):
            if unit.path.startswith(school.path):
                for name in COUNTS:
                    counts[name] += row[name]
        rows.append({"key": school.id, "label": school.name, **counts})
    return rows


# -- who may read which scope -----------------------------------------------------------------------------
def statistics_paths(s: Session, user: User) -> tuple[str, ...]:
    """The org paths under which the user may read statistics (grants of STATISTICS_ROLES only)."""
    org_ids = {g.org_id for g in user.grants if g.role in STATISTICS_ROLES}
    if not org_ids:
        return ()
    return tuple(sorted(s.scalars(select(OrgNode.path).where(OrgNode.id.in_(org_ids)))))


def can_read_statistics(s: Session, user: User, org_id: int) -> bool:
    """True when the org lies under one of the user's statistics grants."""
    path = s.scalar(select(OrgNode.path).where(OrgNode.id == org_id))
    return path is not None and any(path.startswith(p) for p in statistics_paths(s, user))


def statistics_orgs(s: Session, user: User) -> list[OrgNode]:
    """The scopes a user may choose, in tree order: their grant nodes and the schools and units below."""
    paths = statistics_paths(s, user)
    if not paths:
        return []
    return list(s.scalars(select(OrgNode).where(
        OrgNode.kind.in_(SCOPE_KINDS), or_(*[OrgNode.path.startswith(p) for p in paths])).order_by(OrgNode.path)))


def campaigns_for(s: Session, org: OrgNode) -> list[Campaign]:
    """Campaigns touching an org: organised at it, above it (its school's) or below it (a bureau's schools')."""
    return list(s.scalars(select(Campaign).join(OrgNode, OrgNode.id == Campaign.org_id).where(or_(
        OrgNode.path.startswith(org.path), Campaign.org_id.in_(org.ancestor_ids())))
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def resolve_query(s: Session, user: User, now: datetime, org_id: int | None = None, campaign_id: int | None = None,
                  start: date | None = None, end: date | None = None, as_of=None) -> Query:
    """A checked Query for this user, with defaults: their widest scope (or the campaign's organiser), as of now,
    the period from the campaign's start (else the first of the month) to the as-of date.

    NotAllowed when the user holds no statistics role; NotFound for a scope or campaign outside theirs."""
    orgs = statistics_orgs(s, user)
    if not orgs:
        raise NotAllowed("statistics are for the security office, leaders, unit heads, supervisors and admins")
    allowed = {o.id: o for o in orgs}
    campaign = s.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign_id is not None and campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    if org_id is None:
        org_id = campaign.org_id if campaign is not None and campaign.org_id in allowed else orgs[0].id
    org = allowed.get(org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} does not exist")
    if campaign is not None and campaign.id not in {c.id for c in campaigns_for(s, org)}:
        raise NotFound(f"campaign {campaign_id} does not exist")
    moment = parse_as_of(as_of, now)
    end = end or moment.astimezone(CHINA).date()
    if start is None:
        start = campaign.created_at.astimezone(CHINA).date() if campaign is not None else end.replace(day=1)
        start = min(start, end)
    return Query(org_id=org.id, start=start, end=end, as_of=moment, campaign_id=campaign.id if campaign else None)
