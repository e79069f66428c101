"""回头看: sampling closed hazards with a recorded seed, and re-inspecting them (a hazard found open reopens)."""
from __future__ import annotations

import io
import threading
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from engine.campaigns import checklists
from engine.campaigns.look_back import (
    AlreadyReinspected,
    LookBacks,
    look_back_progress,
    sample_items,
)
from engine.campaigns.findings import start_look_back
from engine.campaigns.models import Campaign, LookBackResult
from engine.campaigns.service import Campaigns, open_hazard_count
from engine.infra.errors import InvalidFormData, NotAllowed
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process.models import HumanTask, ProcessInstance, ProcessMessage
from engine.rectification import inbox as hazard_inbox
from engine.rectification import ledger
from engine.rectification.attachments import EvidenceStore
from engine.rectification.models import Attachment, Hazard

STAGES = {k: {"end": d} for k, d in (("self_check", "2026-11-15"), ("joint_inspection", "2026-11-20"),
                                     ("rectification", "2026-12-15"), ("supervision", "2026-12-30"))}


def test_look_back_sample_is_reproducible_from_its_recorded_seed(services, world, report_hazard, clock):
    hazards = [report_hazard(problem=f"问题{n}").id for n in range(6)]
    with services.uow() as uow:
        for hazard in uow.session.scalars(select(Hazard).where(Hazard.id.in_(hazards[:5]))):
            hazard.closed_at = clock.now()
        uow.commit()
    campaigns = Campaigns(services)
    sample, seed, _ = campaigns.sample_look_back(world.orgs.school, 3)
    assert len(sample) == 3 and set(sample) <= set(hazards[:5])  # only closed hazards are drawn
    assert campaigns.sample_look_back(world.orgs.school, 3, seed=seed) == (sample, seed, None)
    with services.uow() as uow:
        shipped = checklists.load_shipped(uow.session, services.bpmn_dir, clock.now())
        uow.commit()
    look_back = campaigns.create_campaign(world.users.security, "回头看", shipped[2].id, [world.orgs.college],
                                          STAGES, kind="look_back", sample=sample, sample_seed=seed)
    with services.uow() as uow:
        stored = uow.session.get(Campaign, look_back.id)
        assert (stored.kind, stored.sample, stored.sample_seed) == ("look_back", sample, seed)


def test_look_back_sample_is_drawn_only_from_hazards_matching_its_filters(services, world, report_hazard, clock):
    def closed(days_ago, **report):
        hazard = report_hazard(**report)
        with services.uow() as uow:
            row = uow.session.get(Hazard, hazard.id)
            row.closed_at, row.grade = clock.now() - timedelta(days=days_ago), "general"
            uow.commit()
        return hazard.id

    patrol_old = closed(40, source="patrol")
    patrol_new = closed(2, source="patrol")
    self_check = closed(2)
    logistics = closed(2, source="patrol", user=world.users.logistics_staff)
    campaigns = Campaigns(services)

    def draw(**filters):
        sample, _seed, stored = campaigns.sample_look_back(world.orgs.school, 10, seed=5, filters=filters)
        return sample, stored

    assert draw()[0] == sorted([patrol_old, patrol_new, self_check, logistics])
    since = (clock.now() - timedelta(days=10)).astimezone(CHINA).date().isoformat()
    sample, stored = draw(source="patrol", closed_from=since)
    assert sample == sorted([patrol_new, logistics])
    assert stored == {"source": ["patrol"], "closed_from": since}  # recorded with the seed, in its stored form
    assert draw(source=["patrol"], closed_from=since, unit_ids=[world.orgs.college])[0] == [patrol_new]
    assert draw(unit_ids=[world.orgs.school], grade="general")[0] == sorted(
        [patrol_old, patrol_new, self_check, logistics])  # a school stands for its units
    assert draw(grade="major")[0] == []
    # Bad filters are refused with a field error each, before anything is drawn.
    for filters, field in (({"colour": "red"}, "filters.colour"), ({"closed_from": "soon"}, "filters.closed_from"),
                           ({"closed_from": "2026-11-02", "closed_to": "2026-11-01"}, "filters.closed_to"),
                           ({"unit_ids": [world.orgs.foreign_unit]}, "filters.unit_ids"),
                           ({"source": [""]}, "filters.source"), ({"campaign_id": "x"}, "filters.campaign_id")):
        with pytest.raises(InvalidFormData) as refused:
            draw(**filters)
        assert [e["field"] for e in refused.value.errors] == [field], filters
    # start_look_back records the filters on the campaign; none matching is a clear error on the sample size.
    with services.uow() as uow:
        shipped = checklists.load_shipped(uow.session, services.bpmn_dir, clock.now())
        uow.commit()
    look_back = start_look_back(services, world.users.security, "回头看", shipped[2].id, world.orgs.school, 5, None,
                                STAGES, filters={"source": "patrol", "closed_from": since})
    with services.uow() as uow:
        stored = uow.session.get(Campaign, look_back.id)
        assert sorted(stored.sample) == sorted([patrol_new, logistics])
        assert stored.sample_filters == {"source": ["patrol"], "closed_from": since}
    with pytest.raises(InvalidFormData, match="matches the filters") as none:
        start_look_back(services, world.users.security, "回头看", shipped[2].id, world.orgs.school, 5, None, STAGES,
                        filters={"grade": "major"})
    assert none.value.errors[0]["field"] == "sample_size"


# -- re-inspection (回头看复查) -------------------------------------------------------------------------
CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,学校\n".encode()
REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}
PLAN = {"plan_owner": "刘院长", "plan_measures": "更换防护罩", "plan_deadline": "2026-12-01",
        "plan_contingency": "停用该车床"}
MAJOR_PLAN = {**PLAN, "plan_funds": "学校专项经费"}  # a 重大 hazard's 四落实 includes its funds
FIXED = {"measures": "已加装防护罩", "completion": "已完成"}


@pytest.fixture
def look_back(services, world, clock, tmp_path):
    """Factory: a look-back over `sample` (hazard ids) at the school; returns (LookBacks, campaign id, inspector)."""
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    with services.uow() as uow:
        s = uow.session
        inspector = accounts.add_user(s, "inspector", "联合检查组", "pw", s.get(OrgNode, world.orgs.school),
                                      clock.now(), roles=[("inspector", s.get(OrgNode, world.orgs.school))]).id
        template = checklists.import_checklist(s, CSV, "t.csv", "回头看清单", clock.now())
        uow.commit()

    def _make(sample):
        campaign = Campaigns(services).create_campaign(world.users.security, "回头看", template.id,
                                                       [world.orgs.college], STAGES, kind="look_back",
                                                       sample=sample, sample_seed=7)
        return LookBacks(services), campaign.id, inspector

    return _make


def _closed_onsite(world, report_hazard, do, **overrides):
    hazard = report_hazard(**overrides)
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    do(hazard.id, "onsite_fix", world.users.staff, FIXED)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True, "opinion": "合格"})
    do(hazard.id, "close_hazard", world.users.security2, {"closing_note": "销号"})
    return hazard.id


def _hazard(services, hazard_id) -> Hazard:
    with services.uow() as uow:
        return uow.session.get(Hazard, hazard_id)


def _status(services, instance_id) -> str:
    with services.uow() as uow:
        return uow.session.get(ProcessInstance, instance_id).status


def test_reopened_hazard_reenters_its_loop_where_the_diagram_says_and_closes_again(
        services, world, report_hazard, do, open_tasks, clock, look_back):
    hazard_id = _closed_onsite(world, report_hazard, do)
    first = _hazard(services, hazard_id)
    looks, campaign_id, inspector = look_back([hazard_id])
    clock.advance(days=3)

    result = looks.reinspect(inspector, campaign_id, hazard_id, "reopened", note="防护罩又被拆除",
                             evidence=[("复查记录.txt", "车床防护罩缺失".encode())], deadline="2026-11-20")

    hazard = _hazard(services, hazard_id)
    assert hazard.closed_at is None and hazard.repeat_count == 1 and hazard.reopened_at == clock.now()
    assert hazard.instance_id == result.instance_id != first.instance_id
    assert _status(services, first.instance_id) == "completed"  # the earlier run stays as history
    # The diagram's re-entry: straight to the responsible unit's new 四落实 plan, with a due time.
    [plan] = open_tasks(hazard_id)
    assert (plan.bpmn_id, plan.candidate_role, plan.candidate_org_id) == (
        "rectification_plan", "department_head", world.orgs.college)
    assert plan.instance_id == hazard.instance_id and plan.due_at is not None
    assert hazard.status == "rectify"
    with services.uow() as uow:
        s = uow.session
        message = s.scalars(select(ProcessMessage).where(ProcessMessage.name == "hazard_reopened")).one()
        assert (message.status, message.target_instance_id) == ("started", hazard.instance_id)
        kinds = [e.kind for e, _ in hazard_inbox.hazard_timeline(s, hazard_id)]
        assert kinds.index("HazardReinspected") < kinds.index("HazardReopened") < len(kinds) - 1
        [evidence] = s.scalars(select(Attachment).where(Attachment.hazard_id == hazard_id)).all()
        assert result.evidence == [evidence.id] and evidence.content_type == "text/plain"
        assert open_hazard_count(s, campaign_id) == 1  # the look-back now waits for it
        [row] = [r for r in ledger.ledger_rows(s, world.orgs.college) if r.hazard_id == hazard_id]
        assert row.repeat_count == 1 and row.closed_at is None and "回头看反弹次数：1" in row.remarks
        sheet = load_workbook(io.BytesIO(ledger.ledger_workbook(s, world.orgs.college))).active
    assert [c.value for c in sheet[3]] == list(ledger.COLUMNS)  # still the seed's ten columns
    assert "回头看反弹次数：1" in sheet["J4"].value

    do(hazard_id, "rectification_plan", world.users.head, PLAN)
    rectify = [t for t in open_tasks(hazard_id) if t.bpmn_id == "rectify"][0]
    assert rectify.due_at.isoformat() == "2026-11-20T10:00:00+00:00"  # the reopening's new 整改期限
    do(hazard_id, "rectify", world.users.staff, FIXED)
    do(hazard_id, "accept_rectification", world.users.security, {"accepted": True})
    clock.advance(hours=2)
    do(hazard_id, "close_hazard", world.users.security2, {"closing_note": "再次销号"})
    closed = _hazard(services, hazard_id)
    assert closed.closed_at == clock.now() and closed.status == "archive" and closed.repeat_count == 1
    assert _status(services, closed.instance_id) == "completed"
    with services.uow() as uow:
        progress = look_back_progress(uow.session, campaign_id)
        assert open_hazard_count(uow.session, campaign_id) == 0
    assert (progress.sampled, progress.reinspected, progress.reopened, progress.reclosed, progress.still_open) == (
        1, 1, 1, 1, 0)


def test_each_sampled_hazard_is_reinspected_once_and_holds_leaves_it_closed(
        services, world, report_hazard, do, look_back):
    held, reopened, pending = (_closed_onsite(world, report_hazard, do, location=f"实训楼{n}") for n in range(3))
    outside = _closed_onsite(world, report_hazard, do, location="不在样本中")
    looks, campaign_id, inspector = look_back([held, reopened, pending])
    before = _hazard(services, held)

    looks.reinspect(inspector, campaign_id, held, "holds", note="整改到位")
    with pytest.raises(AlreadyReinspected, match="already re-inspected"):
        looks.reinspect(world.users.supervisor, campaign_id, held, "reopened")
    after = _hazard(services, held)
    assert (after.closed_at, after.repeat_count, after.instance_id, after.status) == (
        before.closed_at, 0, before.instance_id, "archive")

    looks.reinspect(world.users.supervisor, campaign_id, reopened, "reopened")  # a bureau supervisor, default deadline
    with pytest.raises(AlreadyReinspected):
        looks.reinspect(inspector, campaign_id, reopened, "holds")
    assert _hazard(services, reopened).deadline == date(2026, 12, 15)  # the look-back's rectification end
    with pytest.raises(NotAllowed, match="not in the sample"):
        looks.reinspect(inspector, campaign_id, outside, "holds")
    for user in (world.users.staff, world.users.head, world.users.outsider):
        with pytest.raises(NotAllowed, match="organisers and inspectors"):
            looks.reinspect(user, campaign_id, pending, "holds")
    with pytest.raises(InvalidFormData, match="outcome"):
        looks.reinspect(inspector, campaign_id, pending, "maybe")
    with pytest.raises(InvalidFormData, match="deadline"):
        looks.reinspect(inspector, campaign_id, pending, "reopened", deadline="2026-10-01")

    with services.uow() as uow:
        progress = look_back_progress(uow.session, campaign_id)
        items = [(h.id, r.outcome if r else None) for h, r in sample_items(uow.session, campaign_id)]
        results = uow.session.scalar(select(func.count()).select_from(LookBackResult))
    assert (progress.sampled, progress.reinspected, progress.pending, progress.holds, progress.reopened,
            progress.reclosed) == (3, 2, 1, 1, 1, 0)
    assert items == [(held, "holds"), (reopened, "reopened"), (pending, None)]
    assert results == 2


def test_a_reopened_major_hazard_is_reported_upward_again_and_can_be_archived(
        services, world, report_hazard, do, open_tasks, look_back):
    hazard = report_hazard(problem="消防报警系统损坏", category="消防")
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "grade": "major", "responsible_unit_id": world.orgs.college})
    do(hazard.id, "review_major_report", world.users.supervisor, {"guidance": "立即整改"})
    do(hazard.id, "rectification_plan", world.users.head, MAJOR_PLAN)
    do(hazard.id, "rectify", world.users.staff, FIXED)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "approve_closure", world.users.leader, {"approved": True})
    looks, campaign_id, inspector = look_back([hazard.id])

    looks.reinspect(inspector, campaign_id, hazard.id, "reopened", deadline="2026-11-30")
    assert {t.bpmn_id for t in open_tasks(hazard.id)} == {"review_major_report", "rectification_plan"}
    do(hazard.id, "review_major_report", world.users.supervisor, {"guidance": "督促整改"})
    do(hazard.id, "rectification_plan", world.users.head, MAJOR_PLAN)
    do(hazard.id, "rectify", world.users.staff, FIXED)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "approve_closure", world.users.leader, {"approved": True})
    final = _hazard(services, hazard.id)
    assert final.status == "archive" and final.closed_at is not None and final.repeat_count == 1
    assert _status(services, final.instance_id) == "completed"


def test_reopening_ends_an_earlier_run_that_was_still_open(services, world, report_hazard, do, open_tasks, clock,
                                                           look_back):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "deadline": "2026-11-06", "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    clock.set(clock.now() + timedelta(days=5))
    assert services.fire_due_timers().fired == 1  # 逾期书面说明 opens beside the rectification
    do(hazard.id, "rectify", world.users.staff, FIXED)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "close_hazard", world.users.security2, {"closing_note": "销号"})
    old = _hazard(services, hazard.id)
    assert old.closed_at is not None and [t.bpmn_id for t in open_tasks(hazard.id)] == ["explain_overdue"]
    looks, campaign_id, inspector = look_back([hazard.id])

    looks.reinspect(inspector, campaign_id, hazard.id, "reopened", deadline="2026-11-30")
    assert [t.bpmn_id for t in open_tasks(hazard.id)] == ["rectification_plan"]
    assert _status(services, old.instance_id) == "superseded"
    with services.uow() as uow:
        cancelled = uow.session.scalars(select(HumanTask.state).where(
            HumanTask.instance_id == old.instance_id, HumanTask.bpmn_id == "explain_overdue")).one()
    assert cancelled == "cancelled"


def test_two_inspectors_reinspecting_the_same_hazard_at_once_record_it_once(services, world, report_hazard, do,
                                                                            look_back):
    hazard_id = _closed_onsite(world, report_hazard, do)
    looks, campaign_id, inspector = look_back([hazard_id])
    start, outcomes = threading.Barrier(2), []

    def reinspect(user_id):
        start.wait()
        try:
            looks.reinspect(user_id, campaign_id, hazard_id, "reopened", deadline="2026-11-30")
            outcomes.append("ok")
        except AlreadyReinspected:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - any other failure is reported by the assert below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=reinspect, args=(u,)) for u in (inspector, world.users.supervisor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused"]
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.business_key == f"hazard:{hazard_id}")) == 2
    assert _hazard(services, hazard_id).repeat_count == 1
