"""Every path of bpmn/hazard_rectification.bpmn, walked through the services on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

from engine.process.models import ProcessInstance
from engine.rectification import inbox as hazard_inbox
from engine.rectification.models import Hazard

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}
PLAN = {"plan_owner": "刘院长", "plan_measures": "加装防护罩", "plan_deadline": "2026-11-09",
        "plan_contingency": "停用该车床", "plan_funds": "2000元"}
RECTIFY = {"measures": "已加装防护罩", "completion": "已完成"}


def _hazard(services, hazard_id) -> Hazard:
    with services.uow() as uow:
        return uow.session.get(Hazard, hazard_id)


def _events(services, hazard_id) -> list[str]:
    with services.uow() as uow:
        return [e.kind for e, _ in hazard_inbox.hazard_timeline(uow.session, hazard_id)]


def test_onsite_fix_is_accepted_closed_and_archived(services, world, report_hazard, do, open_tasks, clock):
    hazard = report_hazard()
    assert [t.bpmn_id for t in open_tasks(hazard.id)] == ["register_hazard"]
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "responsible_unit_id": world.orgs.college, "onsite_fix": True})
    do(hazard.id, "onsite_fix", world.users.staff, RECTIFY)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True, "opinion": "合格"})
    assert _hazard(services, hazard.id).status == "close"
    clock.advance(hours=1)
    do(hazard.id, "close_hazard", world.users.security2, {"closing_note": "同意销号"})

    closed = _hazard(services, hazard.id)
    assert closed.status == "archive"
    assert closed.closed_at == clock.now()
    assert closed.measures == "已加装防护罩" and closed.grade == "general"
    assert open_tasks(hazard.id) == []
    with services.uow() as uow:
        assert uow.session.get(ProcessInstance, closed.instance_id).status == "completed"
    assert _events(services, hazard.id)[-2:] == ["HazardClosed", "HazardArchived"]


def test_plan_rectify_reject_once_then_accept(services, world, report_hazard, do, open_tasks):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    assert _hazard(services, hazard.id).plan_contingency == "停用该车床"
    do(hazard.id, "rectify", world.users.staff, RECTIFY)
    do(hazard.id, "accept_rectification", world.users.security,
       {"accepted": False, "reason": "防护罩未固定", "opinion": "退回"})
    assert [t.bpmn_id for t in open_tasks(hazard.id)] == ["rectify"]
    assert _hazard(services, hazard.id).status == "rectify"
    do(hazard.id, "rectify", world.users.staff, {"measures": "已固定防护罩", "completion": "完成"})
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "close_hazard", world.users.security, {"closing_note": "销号"})
    final = _hazard(services, hazard.id)
    assert final.status == "archive" and final.measures == "已固定防护罩"
    assert _events(services, hazard.id).count("TaskCompleted") == 7


def test_major_hazard_is_reported_upward_and_closed_by_a_leader(services, world, report_hazard, do, open_tasks,
                                                                  task_of):
    hazard = report_hazard(problem="地下室被用作学生宿舍", category="建筑与施工")
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "grade": "major", "responsible_unit_id": world.orgs.college})
    report = task_of(hazard.id, "review_major_report")
    assert (report.candidate_role, report.candidate_org_id) == ("supervisor", world.orgs.bureau)
    assert {t.bpmn_id for t in open_tasks(hazard.id)} == {"review_major_report", "rectification_plan"}
    do(hazard.id, "review_major_report", world.users.supervisor, {"guidance": "立即停用并设置警示标志"})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    do(hazard.id, "rectify", world.users.staff, RECTIFY)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    leader_task = task_of(hazard.id, "approve_closure")
    assert (leader_task.candidate_role, leader_task.candidate_org_id) == ("leader", world.orgs.school)
    do(hazard.id, "approve_closure", world.users.leader, {"approved": False, "opinion": "需复查"})
    assert [t.bpmn_id for t in open_tasks(hazard.id)] == ["rectify"]
    do(hazard.id, "rectify", world.users.staff, RECTIFY)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "approve_closure", world.users.leader, {"approved": True})
    final = _hazard(services, hazard.id)
    assert final.status == "archive" and final.grade == "major" and final.closed_at is not None


def test_rectification_deadline_timer_fires_when_the_clock_passes_it(services, world, report_hazard, do,
                                                                      open_tasks, clock):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "deadline": "2026-11-06", "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    with services.uow() as uow:
        instance = uow.session.get(ProcessInstance, _hazard(services, hazard.id).instance_id)
    # The diagram's timer: the deadline day at 18:00 China time.
    assert instance.next_timer_at.isoformat() == "2026-11-06T10:00:00+00:00"

    clock.set(instance.next_timer_at - timedelta(minutes=1))
    assert services.fire_due_timers().fired == 0
    assert [t.bpmn_id for t in open_tasks(hazard.id)] == ["rectify"]

    clock.advance(minutes=2)
    assert services.fire_due_timers().fired == 1
    assert [t.bpmn_id for t in open_tasks(hazard.id)] == ["rectify", "explain_overdue"]
    assert services.fire_due_timers().fired == 0, "a second sweep must not fire the same timer again"
    assert "TimerFired" in _events(services, hazard.id)
    # The rectify task is still open (the boundary timer does not interrupt it).
    do(hazard.id, "explain_overdue", world.users.head, {"reason": "配件未到货", "new_measures": "已催货"})
    do(hazard.id, "rectify", world.users.staff, RECTIFY)
    assert [t.bpmn_id for t in open_tasks(hazard.id)] == ["accept_rectification"]


def test_task_due_times_come_from_the_diagram(services, world, report_hazard, task_of, do, clock):
    hazard = report_hazard()
    register = task_of(hazard.id, "register_hazard")
    assert register.due_at == clock.now() + timedelta(days=1)  # dueDuration P1D
    assert register.stage == "register" and register.priority == 60
    do(hazard.id, "register_hazard", world.users.security,
       {**REGISTER, "deadline": "2026-11-20", "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    rectify = task_of(hazard.id, "rectify")
    assert rectify.due_at.isoformat() == "2026-11-20T10:00:00+00:00"  # dueExpression: the deadline, 18:00 CST
    assert _hazard(services, hazard.id).deadline == date(2026, 11, 20)


def test_ledger_serial_numbers_count_per_unit(services, world, report_hazard, do):
    first = report_hazard()
    second = report_hazard(location="二楼")
    other = report_hazard(user=world.users.logistics_staff, location="食堂")
    assert (first.unit_serial, second.unit_serial, other.unit_serial) == (1, 2, 1)
    do(other.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    moved = _hazard(services, other.id)
    assert (moved.unit_id, moved.unit_serial) == (world.orgs.college, 3)


def test_spec_is_stored_once_per_definition_not_in_each_instance(services, world, report_hazard):
    hazard = report_hazard()
    with services.uow() as uow:
        instance = uow.session.get(ProcessInstance, _hazard(services, hazard.id).instance_id)
        state, spec = instance.state_json, instance.definition.spec_json
    assert '"spec"' not in state and "task_specs" not in state
    assert len(state) < len(spec) / 3


def test_many_rejection_loops_keep_the_stored_state_small_and_still_close(services, world, report_hazard, do):
    hazard = report_hazard()
    do(hazard.id, "register_hazard", world.users.security, {**REGISTER, "responsible_unit_id": world.orgs.college})
    do(hazard.id, "rectification_plan", world.users.head, PLAN)
    sizes = []
    for _ in range(25):
        do(hazard.id, "rectify", world.users.staff, RECTIFY)
        do(hazard.id, "accept_rectification", world.users.security, {"accepted": False, "reason": "不合格"})
        with services.uow() as uow:
            sizes.append(len(uow.session.get(ProcessInstance, _hazard(services, hazard.id).instance_id).state_json))
    assert sizes[-1] < sizes[1] * 1.2, sizes  # finished iterations are compacted out of the task tree
    do(hazard.id, "rectify", world.users.staff, RECTIFY)
    do(hazard.id, "accept_rectification", world.users.security, {"accepted": True})
    do(hazard.id, "close_hazard", world.users.security, {"closing_note": "销号"})
    assert _hazard(services, hazard.id).status == "archive"
    assert _events(services, hazard.id).count("TaskCompleted") == 2 + 50 + 3  # the full history is in the log
