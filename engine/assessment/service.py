"""Annual-assessment verbs: record an accident, adjust a school's scheme, compute and submit the score sheet, and
the completion checks of its sign-off process (bpmn/annual_assessment.bpmn: submit → leader reviews → signed, or
returned with a reason → the security office resubmits). Each verb is one unit of work."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.assessment import performance
from engine.assessment import scheme as schemes
from engine.assessment import sheet as sheets
from engine.assessment.models import Accident, AnnualAssessment, AssessmentScheme
from engine.infra.errors import Conflict, InvalidFormData, NotAllowed, NotFound, WorkflowFailed
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode, User
from engine.process.contracts import Contract
from engine.process.events import record_event
from engine.process.hooks import Completion, Hooks

ASSESSMENT_PROCESS = "annual_assessment"
REVIEW_TASK, REVISE_TASK = "review_assessment", "revise_assessment"
TASK_CHECKS = {REVIEW_TASK: "review_assessment", REVISE_TASK: "resubmit_assessment"}
MANAGER_ROLES = {"security_office", "admin"}  # compute, submit, record accidents, adjust the scheme
VIEW_ROLES = {"security_office", "leader", "supervisor", "admin"}
ASSESSMENT_CONTRACT = Contract(
    subject="annual assessment (engine/assessment)",
    started_through="submit the score sheet on the page /assessment or POST /api/v1/assessment/{year}/submit",
    user_tasks=tuple(TASK_CHECKS), data_keys=("decision",), lanes=("security_office", "leader"),
    properties={task: {"completionCheck": check} for task, check in TASK_CHECKS.items()})


def _holds(user: User, roles: set[str], school: OrgNode) -> bool:
    return any(g.role in roles and g.org_id in school.ancestor_ids() for g in user.grants)


def _refusal(user: User, school: OrgNode, what: str):
    """NotAllowed for someone of the school without the role, NotFound for anyone else (ids reveal nothing)."""
    if user.org is not None and user.org.path.startswith(school.path):
        return NotAllowed(what)
    return NotFound(f"school {school.id} does not exist")


def school_for(s: Session, user: User, school_id: int | None, roles: set[str] = VIEW_ROLES) -> OrgNode:
    """The school (the user's own by default) if the user holds one of `roles` at it or above; NotFound for a school
    outside their scope, NotAllowed for one inside it without the role."""
    school = accounts.nearest(s, user.org, "school") if school_id is None else s.get(OrgNode, int(school_id))
    if school is None or school.kind != "school":
        raise NotFound(f"school {school_id} does not exist")
    if not _holds(user, VIEW_ROLES, school):
        raise _refusal(user, school, "the annual assessment is for the security office, leaders, supervisors and "
                                     "admins")
    if not _holds(user, roles, school):
        raise NotAllowed("only the school's security office (or an administrator) may do this")
    return school


def assessment_of(s: Session, school_id: int, year: int) -> AnnualAssessment | None:
    """The school's assessment of the year, if submitted."""
    return s.scalars(select(AnnualAssessment).where(AnnualAssessment.school_id == school_id,
                                                    AnnualAssessment.year == year)).first()


def _year(value) -> int:
    try:
        year = int(value)
    except (TypeError, ValueError):
        year = 0
    if not 2000 <= year <= 2100:
        raise InvalidFormData("invalid year", [{"field": "year", "message": "a year between 2000 and 2100"}])
    return year


def live_sheet(s: Session, school: OrgNode, year: int, now: datetime) -> dict:
    """The sheet as computed now from the year's records (as of the year's end, or now if earlier)."""
    end = datetime(year, 12, 31, 23, 59, 59, tzinfo=CHINA)
    return sheets.compute(s, school, year, schemes.scheme_for(s, school.id), min(now, end))


def read_sheet(s: Session, user: User, school_id: int | None, year, now: datetime
               ) -> tuple[OrgNode, AnnualAssessment | None, dict]:
    """The school's sheet of the year for this user: as frozen once submitted, else computed now (a preview)."""
    year = _year(year)
    school = school_for(s, user, school_id)
    assessment = assessment_of(s, school.id, year)
    return school, assessment, assessment.sheet if assessment is not None else live_sheet(s, school, year, now)


def read_performance(s: Session, user: User, school_id: int | None, start: date | None, end: date | None,
                     now: datetime) -> tuple[OrgNode, date, date, list[dict]]:
    """Per-unit inspection performance of the user's school (default period: this year to today)."""
    school = school_for(s, user, school_id)
    today = now.astimezone(CHINA).date()
    end = end or today
    start = start or end.replace(month=1, day=1)
    if start > end:
        raise InvalidFormData("the period starts after it ends", [{"field": "start", "message": f"after {end}"}])
    return school, start, end, [r.as_dict() for r in performance.unit_performance(s, school, start, end, now)]


def accidents_of(s: Session, user: User, school_id: int | None, year) -> tuple[OrgNode, list[Accident]]:
    """A school's accident records of a year, newest first."""
    year = _year(year)
    school = school_for(s, user, school_id)
    return school, list(s.scalars(select(Accident).where(
        Accident.school_id == school.id, Accident.occurred_on >= date(year, 1, 1),
        Accident.occurred_on <= date(year, 12, 31)).order_by(Accident.occurred_on.desc(), Accident.id.desc())))


class Assessments:
    """Annual-assessment verbs; built on the engine's Services (same unit of work, clock and runtime)."""

    def __init__(self, services):
        self.services = services

    def record_accident(self, user_id: int, data: dict) -> Accident:
        """Record a safety accident of a unit (security office): 一票否决 for the unit's year."""
        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            errors = []
            unit = s.get(OrgNode, int(data["unit_id"])) if str(data.get("unit_id", "")).isdigit() else None
            if unit is None or unit.kind != "unit":
                errors.append({"field": "unit_id", "message": "choose a unit"})
            description = str(data.get("description") or "").strip()
            if not description or len(description) > 2000:
                errors.append({"field": "description", "message": "required, at most 2000 characters"})
            try:
                raw = data.get("occurred_on")
                occurred_on = raw if isinstance(raw, date) else date.fromisoformat(str(raw or "")[:10])
                if occurred_on > now.astimezone(CHINA).date():
                    errors.append({"field": "occurred_on", "message": "not in the future"})
            except ValueError:
                errors.append({"field": "occurred_on", "message": "a date (YYYY-MM-DD)"})
            if errors:
                raise InvalidFormData("invalid accident record: " + ", ".join(e["field"] for e in errors), errors)
            school = accounts.nearest(s, unit, "school")
            if school is None:
                raise NotFound(f"unit {unit.id} does not exist")
            if not _holds(user, MANAGER_ROLES, school):
                raise _refusal(user, school, "only the security office records accidents")
            accident = Accident(school_id=school.id, unit_id=unit.id, occurred_on=occurred_on,
                                description=description, recorded_by_id=user.id, recorded_at=now)
            s.add(accident)
            s.flush()
            record_event(s, now, "AccidentRecorded", user.id, accident_id=accident.id, unit_id=unit.id,
                         occurred_on=occurred_on.isoformat())
            uow.commit()
            return accident

    def save_scheme(self, user_id: int, school_id: int | None, raw: dict) -> dict:
        """Replace a school's scoring scheme (admin or security office), validated: weights sum to 100, known
        sources, a pass mark between 0 and 100."""
        svc = self.services
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            school = school_for(s, user, school_id, MANAGER_ROLES)
            checked = schemes.validate(raw)
            row = s.scalars(select(AssessmentScheme).where(AssessmentScheme.school_id == school.id)).first()
            if row is None:
                row = AssessmentScheme(school_id=school.id)
                s.add(row)
            row.scheme, row.updated_at, row.updated_by_id = checked, now, user.id
            record_event(s, now, "AssessmentSchemeChanged", user.id, school_id=school.id,
                         pass_mark=checked["pass_mark"], weights={i["key"]: i["weight"] for i in checked["items"]})
            uow.commit()
            return checked

    def submit(self, user_id: int, school_id: int | None, year) -> AnnualAssessment:
        """Compute the school's score sheet for the year, freeze it, and start its sign-off by the leader."""
        svc = self.services
        year = _year(year)
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            school = school_for(s, user, school_id, MANAGER_ROLES)
            if assessment_of(s, school.id, year) is not None:
                raise Conflict(f"the {year} assessment of {school.name} was already submitted; a leader may return it")
            assessment = AnnualAssessment(school_id=school.id, year=year, status="submitted",
                                          sheet=live_sheet(s, school, year, now), submitted_at=now,
                                          submitted_by_id=user.id)
            s.add(assessment)
            s.flush()
            definition = svc.latest_definition(s, ASSESSMENT_PROCESS)
            try:
                workflow = svc.runtime.start(definition, {"assessment_id": assessment.id, "school_id": school.id,
                                                          "year": year})
            except Exception as exc:  # noqa: BLE001 - whatever the diagram raised, nothing is kept
                raise WorkflowFailed(f"the assessment could not start: {exc}") from None
            projector = svc.projector(s, now, user.id)
            instance = projector.new_instance(definition, f"assessment:{assessment.id}")
            assessment.instance_id = instance.id
            record_event(s, now, "AssessmentSubmitted", user.id, instance_id=instance.id,
                         assessment_id=assessment.id, school_id=school.id, year=year,
                         vetoed=assessment.sheet["summary"]["vetoed"])
            projector.persist(instance, workflow, None)
            uow.commit()
            return assessment


# -- completion checks of the sign-off process ---------------------------------------------------------
def _assessment_of(completion: Completion) -> AnnualAssessment:
    data = completion.spiff_task.data
    if "assessment_id" not in data:
        raise WorkflowFailed(f"task {completion.task.bpmn_id!r}: this completionCheck needs assessment_id in the "
                             "process data")
    assessment = completion.session.get(AnnualAssessment, int(data["assessment_id"]))
    if assessment is None:
        raise WorkflowFailed(f"assessment {data['assessment_id']} does not exist")
    return assessment


def _review(completion: Completion) -> None:
    """The leader signs the frozen sheet off, or returns it with a reason."""
    assessment, data, now = _assessment_of(completion), completion.data, completion.now
    if data.get("decision") == "return":
        assessment.status, assessment.return_reason, assessment.returned_at = "returned", data.get("reason"), now
        kind = "AssessmentReturned"
    else:
        assessment.status, assessment.signed_at, assessment.signed_by_id = "signed", now, completion.user.id
        kind = "AssessmentSigned"
    record_event(completion.session, now, kind, completion.user.id, instance_id=completion.task.instance_id,
                 assessment_id=assessment.id, reason=data.get("reason"))


def _resubmit(completion: Completion) -> None:
    """The security office resubmits: the sheet is computed again from today's records and frozen anew."""
    assessment, now, s = _assessment_of(completion), completion.now, completion.session
    school = s.get(OrgNode, assessment.school_id)
    assessment.sheet = live_sheet(s, school, assessment.year, now)
    assessment.status, assessment.submitted_at, assessment.submitted_by_id = "submitted", now, completion.user.id
    record_event(s, now, "AssessmentSubmitted", completion.user.id, instance_id=completion.task.instance_id,
                 assessment_id=assessment.id, school_id=school.id, year=assessment.year,
                 vetoed=assessment.sheet["summary"]["vetoed"], note=completion.data.get("note"))


def register(hooks: Hooks) -> None:
    """Plug the annual assessment into the process core: its sign-off's completion checks and contract."""
    hooks.add_completion_check(TASK_CHECKS[REVIEW_TASK], _review)
    hooks.add_completion_check(TASK_CHECKS[REVISE_TASK], _resubmit)
    hooks.protect(ASSESSMENT_PROCESS, ASSESSMENT_CONTRACT)
