"""回头看 (seed 002): re-inspect the closed hazards a look-back sampled; a hazard found open again reopens.

A look-back is a campaign of kind `look_back` whose `sample` holds the closed hazards drawn at random
(`Campaigns.sample_look_back`, seed recorded). Its organisers and inspectors re-inspect each sampled hazard
once (`look_back_results`, unique per look-back and hazard):

* `holds` (整改到位): recorded; the hazard stays closed.
* `reopened` (反弹): the hazard's 销号时间 is cleared, its repeat count goes up, `HazardReopened` enters its
  timeline, and the engine sends the BPMN message `hazard_reopened`. The message start event of that name
  in bpmn/hazard_rectification.bpmn starts a new run for the same hazard row and decides where it
  re-enters the loop (shipped: straight after registration, so the responsible unit files a new
  四落实 plan and a 重大 hazard is reported upward again); the earlier run stays as history.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.campaigns.models import ORGANISER_ROLES, OUTCOMES, Campaign, LookBackResult
from engine.infra.db import is_postgres
from engine.infra.errors import (
    ConcurrentUpdate,
    Conflict,
    InvalidFormData,
    NotAllowed,
    NotFound,
    WorkflowFailed,
)
from engine.infra.timezone import CHINA, as_date
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.events import record_event
from engine.process.instances import lock_instance
from engine.process.lifecycle import InstanceState, TaskState
from engine.process.messaging import send_message
from engine.process.models import HumanTask, MessageSubscription
from engine.rectification.attachments import check_upload, clean_filename, store_attachment, store_for
from engine.rectification.models import Hazard

REOPEN_MESSAGE = "hazard_reopened"
REINSPECTOR_ROLES = ORGANISER_ROLES | {"inspector"}
LOOK_BACK = "look_back"


class AlreadyReinspected(Conflict):
    """This look-back already re-inspected the hazard (each sampled hazard once per look-back): a conflict."""

    code = "already_reinspected"


@dataclass(frozen=True)
class LookBackProgress:
    """How far a look-back is: re-inspected n of m sampled, how many held and reopened, how many closed again."""

    sampled: int
    reinspected: int
    holds: int
    reopened: int
    reclosed: int  # reopened hazards closed (销号) again since

    @property
    def pending(self) -> int:
        """Sampled hazards not re-inspected yet."""
        return self.sampled - self.reinspected

    @property
    def still_open(self) -> int:
        """Reopened hazards not closed again yet."""
        return self.reopened - self.reclosed


def get_look_back(s: Session, campaign_id: int) -> Campaign:
    """The look-back campaign, or NotFound (another kind of campaign is not a look-back)."""
    campaign = s.get(Campaign, campaign_id)
    if campaign is None or campaign.kind != LOOK_BACK:
        raise NotFound(f"look-back {campaign_id} does not exist")
    return campaign


def may_reinspect(user, campaign: Campaign) -> bool:
    """Organisers (security office, leader, supervisor, admin) and inspectors at the look-back's level or above."""
    ancestors = set(campaign.org.ancestor_ids())
    return any(g.role in REINSPECTOR_ROLES and g.org_id in ancestors for g in user.grants)


def look_back_progress(s: Session, campaign_id: int) -> LookBackProgress:
    """The look-back's figures: sampled, re-inspected, held, reopened, reopened and closed again."""
    campaign = get_look_back(s, campaign_id)
    counts = dict(s.execute(select(LookBackResult.outcome, func.count()).where(
        LookBackResult.campaign_id == campaign_id).group_by(LookBackResult.outcome)).all())
    reclosed = s.scalar(select(func.count()).select_from(LookBackResult).join(
        Hazard, Hazard.id == LookBackResult.hazard_id).where(
        LookBackResult.campaign_id == campaign_id, LookBackResult.outcome == "reopened",
        Hazard.closed_at.is_not(None))) or 0
    return LookBackProgress(sampled=len(campaign.sample or []), reinspected=sum(counts.values()),
                            holds=counts.get("holds", 0), reopened=counts.get("reopened", 0), reclosed=reclosed)


def sample_items(s: Session, campaign_id: int) -> list[tuple[Hazard, LookBackResult | None]]:
    """Each sampled hazard with its re-inspection result (None: not re-inspected yet), in sample order."""
    campaign = get_look_back(s, campaign_id)
    ids = [int(i) for i in campaign.sample or []]
    hazards = {h.id: h for h in s.scalars(select(Hazard).where(Hazard.id.in_(ids)))} if ids else {}
    results = {r.hazard_id: r for r in s.scalars(select(LookBackResult).where(
        LookBackResult.campaign_id == campaign_id))}
    return [(hazards[i], results.get(i)) for i in ids if i in hazards]


def reopened_hazard_ids(campaign_id: int):
    """A subquery of the hazards a look-back reopened (they count as the look-back's own open hazards)."""
    return select(LookBackResult.hazard_id).where(LookBackResult.campaign_id == campaign_id,
                                                  LookBackResult.outcome == "reopened")


def look_backs_that_reopened(s: Session, hazard_id: int) -> list[int]:
    """The look-back campaigns that reopened a hazard."""
    return list(s.scalars(select(LookBackResult.campaign_id).where(
        LookBackResult.hazard_id == hazard_id, LookBackResult.outcome == "reopened")))


class LookBacks:
    """Look-back verbs; built on the engine's Services (same unit of work, clock and runtime)."""

    def __init__(self, services):
        self.services = services

    def reinspect(self, user_id: int, campaign_id: int, hazard_id: int, outcome: str, note: str | None = None,
                  evidence: list[tuple[str, bytes]] | None = None,
                  deadline: date | str | None = None) -> LookBackResult:
        """Record a sampled hazard's re-inspection; `reopened` starts a new rectification run for it.

        `evidence` is a list of (file name, bytes), stored as the hazard's evidence. `deadline` is the new
        整改期限 of a reopened hazard (default: the look-back's rectification stage end).
        """
        svc = self.services
        if outcome not in OUTCOMES:
            raise InvalidFormData(f"outcome must be one of {', '.join(OUTCOMES)}",
                                  [{"field": "outcome", "message": f"one of {', '.join(OUTCOMES)}"}])
        store = store_for(svc) if evidence else None
        files = [(clean_filename(name), data, *check_upload(data, store, f"evidence.{n}"))
                 for n, (name, data) in enumerate(evidence or [])]
        with svc.uow() as uow:
            s = uow.session
            now = svc.clock.now()
            user = accounts.get_user(s, user_id)
            campaign = get_look_back(s, campaign_id)
            if not may_reinspect(user, campaign):
                raise NotAllowed("only the look-back's organisers and inspectors may re-inspect its hazards")
            if campaign.status != "running":
                raise NotAllowed(f"look-back {campaign_id} is {campaign.status}")
            if hazard_id not in [int(i) for i in campaign.sample or []]:
                raise NotAllowed(f"hazard {hazard_id} is not in the sample of look-back {campaign_id}")
            hazard, locked_instance = self._lock_hazard(s, hazard_id)
            if s.scalar(select(LookBackResult.id).where(LookBackResult.campaign_id == campaign_id,
                                                        LookBackResult.hazard_id == hazard_id)):
                raise AlreadyReinspected(f"hazard {hazard_id} was already re-inspected in look-back {campaign_id}")
            if hazard.instance_id != locked_instance:  # moved on between the two reads (another look-back)
                raise ConcurrentUpdate(f"hazard {hazard_id} changed while it was being re-inspected; reload")
            if hazard.closed_at is None:
                raise NotAllowed(f"hazard {hazard_id} is not closed (销号) at present; only closed hazards are "
                                 "re-inspected")
            due = self._deadline(campaign, deadline, now) if outcome == "reopened" else None
            attachment_ids = self._store_evidence(s, store, files, user.id, hazard, now)
            result = LookBackResult(campaign_id=campaign.id, hazard_id=hazard.id, outcome=outcome,
                                    note=(note or "").strip() or None, evidence=attachment_ids,
                                    repeat_count=hazard.repeat_count, by_id=user.id, at=now)
            s.add(result)
            try:
                s.flush()
            except IntegrityError:
                # Two people re-inspecting the same hazard at once: the unique constraint lets one through.
                raise AlreadyReinspected(
                    f"hazard {hazard_id} was already re-inspected in look-back {campaign_id}") from None
            record_event(s, now, "HazardReinspected", user.id, instance_id=hazard.instance_id,
                         hazard_id=hazard.id, campaign_id=campaign.id, outcome=outcome, note=result.note,
                         evidence=attachment_ids)
            if outcome == "reopened":
                result.instance_id = self._reopen(s, user.id, campaign, hazard, due, result.note, now)
                result.repeat_count = hazard.repeat_count
            uow.commit()
            return result

    @staticmethod
    def _lock_hazard(s: Session, hazard_id: int) -> tuple[Hazard, int | None]:
        """The hazard locked for this re-inspection, its current instance locked first (the engine's lock order)."""
        instance_id = s.scalar(select(Hazard.instance_id).where(Hazard.id == hazard_id))
        if instance_id is not None:
            lock_instance(s, instance_id)
        stmt = select(Hazard).where(Hazard.id == hazard_id).execution_options(populate_existing=True)
        if is_postgres(s):
            # One re-inspection of a hazard at a time; NO KEY UPDATE like the instance lock before it, so events
            # and tasks referencing the hazard are inserted meanwhile without waiting (engine.process.instances).
            stmt = stmt.with_for_update(key_share=True)
        hazard = s.scalars(stmt).first()
        if hazard is None:
            raise NotFound(f"hazard {hazard_id} does not exist")
        return hazard, instance_id

    @staticmethod
    def _deadline(campaign: Campaign, deadline, now: datetime) -> date:
        try:
            due = as_date(deadline) or as_date((campaign.stages.get("rectification") or {}).get("end"))
        except ValueError:
            raise InvalidFormData("the deadline must be a date (YYYY-MM-DD)",
                                  [{"field": "deadline", "message": "not a date"}]) from None
        if due is None or due < now.astimezone(CHINA).date():
            raise InvalidFormData("a reopened hazard needs a rectification deadline (整改期限) from today on",
                                  [{"field": "deadline", "message": "give a date from today on"}])
        return due

    @staticmethod
    def _store_evidence(s: Session, store, files: list, user_id: int, hazard: Hazard, now: datetime) -> list[int]:
        return [store_attachment(s, store, hazard, user_id, None, filename, data, sniffed, digest, now).id
                for filename, data, sniffed, digest in files]

    def _reopen(self, s: Session, user_id: int, campaign: Campaign, hazard: Hazard, due: date, note: str | None,
                now: datetime) -> int:
        """Clear the closing, count the repeat, and start the diagram's `hazard_reopened` run; the new instance id."""
        svc = self.services
        previous = hazard.instance_id
        if previous is not None:
            self._supersede(s, previous, user_id, hazard.id, now)
        hazard.closed_at, hazard.reopened_at = None, now
        hazard.repeat_count = (hazard.repeat_count or 0) + 1
        # Written before the new run starts (so it precedes the new run's events) and never changed afterwards:
        # events are append-only (engine/process/audit.py), so it belongs to the run being reopened.
        record_event(s, now, "HazardReopened", user_id, instance_id=previous, hazard_id=hazard.id,
                     campaign_id=campaign.id, repeat_count=hazard.repeat_count, note=note,
                     deadline=due.isoformat(), previous_instance_id=previous)
        school = s.get(OrgNode, hazard.school_id)
        payload = {
            "business_key": f"hazard:{hazard.id}",  # binds the new run to this hazard row (messaging.py)
            "hazard_id": hazard.id, "school_id": hazard.school_id, "bureau_id": school.parent_id if school else None,
            "responsible_unit_id": hazard.unit_id, "reporter_unit_id": hazard.unit_id, "grade": hazard.grade,
            "deadline": due.isoformat(), "location": hazard.location, "check_item": hazard.check_item,
            "problem": hazard.problem, "category": hazard.category, "source": hazard.source,
            "responsible_person": hazard.responsible_person, "look_back_campaign_id": campaign.id,
            "repeat_count": hazard.repeat_count, "reopen_note": note,
        }
        projector = svc.projector(s, now, user_id)
        message = send_message(projector, REOPEN_MESSAGE, {}, payload, sender_id=campaign.instance_id)
        if message.status != "started" or hazard.instance_id == previous:
            raise WorkflowFailed(f"no deployed process starts on the message {REOPEN_MESSAGE!r}: deploy the current "
                                 "hazard_rectification.bpmn")
        return hazard.instance_id

    @staticmethod
    def _supersede(s: Session, instance_id: int, user_id: int, hazard_id: int, now: datetime) -> None:
        """A run still open after closing (e.g. an overdue explanation) ends: its tasks are cancelled, it stays."""
        instance = lock_instance(s, instance_id)
        if instance.status != InstanceState.RUNNING:
            return
        for task in s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                      HumanTask.state == TaskState.READY)):
            task.state, task.completed_at, task.next_escalation_at = TaskState.CANCELLED, now, None
            record_event(s, now, "TaskCancelled", user_id, instance_id=instance_id, hazard_id=hazard_id,
                         task_id=task.id, bpmn_id=task.bpmn_id, name=task.name, reason="hazard reopened")
        for row in s.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)):
            s.delete(row)
        instance.status, instance.next_timer_at, instance.completed_at = InstanceState.SUPERSEDED, None, now
        instance.updated_at = now
