"""Rectification notices (整改通知书): which hazards get one, their per-school yearly numbers, and reading them.

Which hazards need a notice is decided by the diagram, not here: a user task may carry the property
`issueNotice`, an expression evaluated (restricted) against the task's data when the task completes, e.g.
`grade == 'major' or not onsite_fix` on 登记评估. When it is true and the hazard has no notice yet, the
engine issues one in the same transaction as the completion. A served notice states the hazard's deadline and
临时处置措施; when a later step changes either (a 四落实 plan filing temporary measures, a reopened run's new
deadline) the notice is re-issued in that step's transaction: same number, the next revision (第2版), the
NoticeReissued event naming what changed, and every version kept (rectification_notice_revisions). The security office may also issue one on
demand for a registered hazard that has none (`issue_notice`).

Numbers run per school and China-time year without gaps or duplicates: a `notice_counters` row per
(school, year) is locked while a number is taken (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE already serialises writers), and unique (school_id, year, seq) is the backstop.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from engine.infra.db import is_postgres
from engine.infra.errors import Conflict, InvalidFormData, NotAllowed, NotFound, WorkflowFailed
from engine.infra.timezone import CHINA, END_OF_WORKDAY
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.process.events import record_event
from engine.process.hooks import Completion, Hooks
from engine.process.instances import lock_instance
from engine.process.outbox import enqueue
from engine.process.scripting import evaluate_expression
from engine.process.tasklist import MAX_PAGE_SIZE, Page
from engine.rectification.models import Hazard, NoticeCounter, NoticeRevision, RectificationNotice
from engine.rectification.visibility import get_visible_hazard, visible_hazards_clause

ISSUE_PROPERTY = "issueNotice"
# Process data the completing task may carry to word the notice's 整改要求 (e.g. a field of the grading form).
REQUIREMENTS_FIELD = "notice_requirements"
ISSUER_ROLES = {"security_office"}
DEFAULT_ISSUER = "保卫处"
MAX_REQUIREMENTS_CHARS = 2000  # as the grading form's notice_requirements field


class NoticeAlreadyIssued(Conflict):
    """The hazard already has its rectification notice (one per hazard)."""

    code = "notice_already_issued"


class NoticeNotIssuable(Conflict):
    """The hazard is not in a state a notice can be issued for (not registered yet, or already closed)."""

    code = "notice_not_issuable"


def format_number(short_name: str, year: int, seq: int) -> str:
    """The notice's number as printed: 某职业学院〔2026〕整改第 003 号."""
    return f"{short_name}〔{year}〕整改第 {seq:03d} 号"


def china_year(now: datetime) -> int:
    """The China-time calendar year of an aware datetime (numbers restart on 1 January in China)."""
    return now.astimezone(CHINA).year


def notice_wanted(properties: dict, data: dict, where: str = "task") -> bool:
    """Evaluate a task's `issueNotice` property against its data; False when the task has none."""
    expression = (properties or {}).get(ISSUE_PROPERTY)
    if not expression:
        return False
    try:
        return bool(evaluate_expression(expression, data))
    except Exception as exc:  # a diagram naming data the task does not have must not pass silently
        raise WorkflowFailed(f"{where}: property {ISSUE_PROPERTY} {expression!r} cannot be evaluated: {exc}") from None


def issue_wanted_notice(completion: Completion):
    """Completion listener: issue the notice a completed user task's `issueNotice` property asks for, or re-issue
    the hazard's notice when the step changed its deadline or 临时处置措施."""
    s, task, hazard, now = completion.session, completion.task, completion.subject, completion.now
    if not isinstance(hazard, Hazard):
        return None
    user_id = completion.user.id
    meta = task.instance.definition.task_meta.get(task.bpmn_id) or {}
    data = completion.spiff_task.data
    wanted = notice_wanted(meta.get("properties") or {}, data, f"task {task.bpmn_id!r}")
    notice = notice_of(s, hazard.id)
    if notice is not None:
        # One notice per hazard: a later step (a plan filing temporary measures, a reopened run's new deadline)
        # revises it under the same number.
        return revise_notice(s, notice, hazard, user_id, now, trigger=task.bpmn_id, task_id=task.id)
    if not wanted:
        return None
    return write_notice(s, hazard, user_id, now, trigger=task.bpmn_id, task_id=task.id,
                        requirements=data.get(REQUIREMENTS_FIELD))


def may_issue(user: User, hazard: Hazard, school: OrgNode) -> bool:
    """True when the user holds an issuing role (the security office) for the hazard's school."""
    ancestry = set(school.ancestor_ids())
    return any(g.role in ISSUER_ROLES and g.org_id in ancestry for g in user.grants)


def issue_notice(services, hazard_id: int, user_id: int, requirements: str | None = None) -> RectificationNotice:
    """Issue a hazard's notice on demand (security office); refused if it has one, is unregistered or closed."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        user = accounts.get_user(s, user_id)
        hazard = get_visible_hazard(s, user, hazard_id)
        if not may_issue(user, hazard, s.get(OrgNode, hazard.school_id)):
            raise NotAllowed("only the security office of the hazard's school may issue a rectification notice")
        if hazard.instance_id is not None:
            # Same lock order as completing a task (instance, then counter): an on-demand notice and one the
            # diagram issues for the same hazard cannot both pass the check below.
            lock_instance(s, hazard.instance_id)
        s.refresh(hazard)
        if notice_of(s, hazard.id) is not None:
            raise NoticeAlreadyIssued(f"hazard {hazard_id} already has a rectification notice")
        if hazard.closed_at is not None:
            raise NoticeNotIssuable(f"hazard {hazard_id} is closed (销号); no notice can be issued")
        if hazard.grade is None or (hazard.deadline or hazard.plan_deadline) is None:
            raise NoticeNotIssuable(f"hazard {hazard_id} is not registered yet: a notice needs its grade, "
                                    "responsible unit and deadline")
        requirements = (requirements or "").strip() or None
        if requirements is not None and len(requirements) > MAX_REQUIREMENTS_CHARS:
            raise InvalidFormData(f"requirements hold at most {MAX_REQUIREMENTS_CHARS} characters",
                                  [{"field": "requirements", "message": f"longer than {MAX_REQUIREMENTS_CHARS}"}])
        notice = write_notice(s, hazard, user.id, now, trigger="on_demand", requirements=requirements)
        uow.commit()
        return notice


def take_number(s: Session, school_id: int, year: int) -> int:
    """The next sequence number of a school's year, taken under the counter row's lock until commit."""
    insert = pg_insert if is_postgres(s) else sqlite_insert
    # Create the year's counter if missing; a concurrent creator makes this a no-op, never an error.
    s.execute(insert(NoticeCounter).values(school_id=school_id, year=year, next_seq=1)
              .on_conflict_do_nothing(index_elements=["school_id", "year"]))
    stmt = (select(NoticeCounter).where(NoticeCounter.school_id == school_id, NoticeCounter.year == year)
            .execution_options(populate_existing=True))
    if is_postgres(s):
        stmt = stmt.with_for_update()
    counter = s.scalars(stmt).one()
    seq = counter.next_seq
    counter.next_seq = seq + 1
    return seq


def _china_date(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def default_requirements(deadline: date | None, issuer: str) -> str:
    """The standard wording of 整改要求 when the issuer wrote none (四落实, temporary measures, report back)."""
    by = f"于{_china_date(deadline)}前" if deadline else "限期"
    return (f"请你单位接到本通知后，立即采取临时处置措施，设置警示标志，必要时停止使用；落实整改责任人、整改措施、"
            f"整改资金、整改时限和应急预案，{by}整改完毕，并将整改情况书面报送{issuer}申请验收。")


def write_notice(s: Session, hazard: Hazard, user_id: int | None, now: datetime, *, trigger: str,
                 task_id: int | None = None, requirements: str | None = None) -> RectificationNotice:
    """Number and store a hazard's notice, record NoticeIssued and tell the receiving unit's head (outbox)."""
    school = s.get(OrgNode, hazard.school_id)
    unit = s.get(OrgNode, hazard.unit_id)
    issuer_org = s.get(User, user_id).org if user_id else None
    issuer = issuer_org.name if issuer_org is not None and issuer_org.kind == "unit" else DEFAULT_ISSUER
    year = china_year(now)
    seq = take_number(s, school.id, year)
    deadline = notice_deadline(hazard)
    found_on = hazard.checked_at or hazard.reported_at.astimezone(CHINA).date()
    content = {
        "school": school.name, "unit": unit.name, "issuer": issuer, "location": hazard.location,
        "check_item": hazard.check_item, "problem": hazard.problem, "category": hazard.category,
        "grade": hazard.grade, "source": hazard.source, "found_on": found_on.isoformat(),
        "responsible_person": hazard.responsible_person, "temporary_measures": hazard.temporary_measures,
        "requirements": requirements or default_requirements(deadline, issuer),
    }
    notice = RectificationNotice(
        hazard_id=hazard.id, school_id=school.id, year=year, seq=seq, number=format_number(school.name, year, seq),
        unit_id=unit.id, deadline=deadline, issued_at=now, issued_by_id=user_id, content=content, revision=1)
    s.add(notice)
    s.flush()
    _keep_version(s, notice)
    record_event(s, now, "NoticeIssued", user_id, instance_id=hazard.instance_id, hazard_id=hazard.id,
                 task_id=task_id, name=notice.number, notice_id=notice.id, number=notice.number, unit_id=unit.id,
                 deadline=deadline.isoformat() if deadline else None, trigger=trigger)
    _tell_unit(s, notice, unit, now)
    return notice


def notice_deadline(hazard: Hazard) -> date | None:
    """The 整改期限 a hazard's notice states: the registered deadline, else the plan's."""
    return hazard.deadline or hazard.plan_deadline


def revision_mark(revision: int) -> str:
    """How a re-issued notice is marked next to its number: 第2版 (nothing on the first version)."""
    return f"第{revision}版" if revision > 1 else ""


def revise_notice(s: Session, notice: RectificationNotice, hazard: Hazard, user_id: int | None, now: datetime, *,
                  trigger: str, task_id: int | None = None) -> RectificationNotice | None:
    """Re-issue the notice (same number, next revision, NoticeReissued, the unit told again) when the hazard's
    deadline or 临时处置措施 differ from what it says; None when nothing it states changed or the hazard is closed."""
    if hazard.closed_at is not None:
        return None
    old = notice.content or {}
    deadline = notice_deadline(hazard)
    changes = {}
    if deadline != notice.deadline:
        changes["deadline"] = [notice.deadline.isoformat() if notice.deadline else None,
                               deadline.isoformat() if deadline else None]
    if (hazard.temporary_measures or None) != (old.get("temporary_measures") or None):
        changes["temporary_measures"] = [old.get("temporary_measures"), hazard.temporary_measures]
    if not changes:
        return None
    content = {**old, "temporary_measures": hazard.temporary_measures,
               "responsible_person": hazard.responsible_person or old.get("responsible_person")}
    if old.get("requirements") == default_requirements(notice.deadline, old.get("issuer") or DEFAULT_ISSUER):
        # The standard wording names the deadline: it follows the new one (an issuer's own wording is kept).
        content["requirements"] = default_requirements(deadline, old.get("issuer") or DEFAULT_ISSUER)
    notice.revision, notice.deadline, notice.content = notice.revision + 1, deadline, content
    notice.issued_at, notice.issued_by_id = now, user_id
    s.flush()
    _keep_version(s, notice)
    record_event(s, now, "NoticeReissued", user_id, instance_id=hazard.instance_id, hazard_id=hazard.id,
                 task_id=task_id, name=f"{notice.number}（{revision_mark(notice.revision)}）", notice_id=notice.id,
                 number=notice.number, revision=notice.revision, changes=changes, trigger=trigger)
    _tell_unit(s, notice, s.get(OrgNode, notice.unit_id), now)
    return notice


def _keep_version(s: Session, notice: RectificationNotice) -> None:
    s.add(NoticeRevision(notice_id=notice.id, revision=notice.revision, deadline=notice.deadline,
                         issued_at=notice.issued_at, issued_by_id=notice.issued_by_id, content=dict(notice.content)))


def _tell_unit(s: Session, notice: RectificationNotice, unit: OrgNode, now: datetime) -> None:
    deadline = notice.deadline
    due_at = datetime.combine(deadline, END_OF_WORKDAY, CHINA).isoformat() if deadline else None
    mark = revision_mark(notice.revision)
    # The unit's named head, else whoever holds department_head for the unit (as the escalation ladder does).
    enqueue(s, now, "notice_issued", {"hazard_id": notice.hazard_id, "notice_id": notice.id, "number": notice.number,
                                      "name": f"{notice.number}（{mark}）" if mark else notice.number,
                                      "due_at": due_at},
            user_id=unit.head_user_id, role="department_head", org_id=unit.id)


# -- reading ---------------------------------------------------------------------------------------
def notice_of(s: Session, hazard_id: int) -> RectificationNotice | None:
    """The hazard's notice, if one was issued."""
    return s.scalars(select(RectificationNotice).where(RectificationNotice.hazard_id == hazard_id)).first()


def visible_notice(s: Session, user: User, hazard_id: int) -> RectificationNotice | None:
    """The notice of a hazard the user may see (NotFound for a hazard out of scope); None if it has none."""
    get_visible_hazard(s, user, hazard_id)
    return notice_of(s, hazard_id)


def notice_versions(s: Session, notice: RectificationNotice) -> list[NoticeRevision]:
    """Every version of a notice as served, first to current."""
    return list(s.scalars(select(NoticeRevision).where(NoticeRevision.notice_id == notice.id)
                          .order_by(NoticeRevision.revision)))


def notice_version(s: Session, notice: RectificationNotice, revision: int) -> NoticeRevision:
    """One version of a notice (NotFound when it has no such revision)."""
    version = s.scalars(select(NoticeRevision).where(NoticeRevision.notice_id == notice.id,
                                                     NoticeRevision.revision == revision)).first()
    if version is None:
        raise NotFound(f"notice {notice.number} has no revision {revision}")
    return version


def list_notices(s: Session, user: User, year: int | None = None, page: int = 1, per_page: int = 50) -> Page:
    """One page of the notices of hazards in the user's scope, newest number first."""
    page, per_page = max(1, page), max(1, min(per_page, MAX_PAGE_SIZE))
    where = [visible_hazards_clause(user, s)]
    if year is not None:
        where.append(RectificationNotice.year == year)
    base = select(RectificationNotice).join(Hazard, Hazard.id == RectificationNotice.hazard_id).where(*where)
    total = s.scalar(select(func.count()).select_from(base.subquery()))
    rows = s.scalars(
        base.options(joinedload(RectificationNotice.unit), joinedload(RectificationNotice.hazard))
        .order_by(RectificationNotice.year.desc(), RectificationNotice.school_id, RectificationNotice.seq.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(rows), total=total, page=page, per_page=per_page)


def notice_years(s: Session, user: User) -> list[int]:
    """The years that have notices in the user's scope, newest first (the list page's year choice)."""
    return list(s.scalars(
        select(RectificationNotice.year).join(Hazard, Hazard.id == RectificationNotice.hazard_id)
        .where(visible_hazards_clause(user, s)).distinct().order_by(RectificationNotice.year.desc())))


def register(hooks: Hooks) -> None:
    """Issue notices when a completed task's `issueNotice` property asks for one."""
    hooks.on_completed(issue_wanted_notice)
