"""Emergency drills (bpmn/emergency_drill.bpmn) on SQLite and PostgreSQL: a semester schedule gives every unit its
drill tasks, each drill is planned, recorded and evaluated into engine/drills, a unit that has not held its two
drills by the semester's end is reminded and escalated, and the next semester starts anew."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.drills.models import DrillRecord
from engine.drills.queries import drills_by_unit, semester_of, semester_table
from engine.drills.service import Drills
from engine.infra.errors import InvalidFormData, NotAllowed
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import OrgNode
from engine.process import escalation
from engine.process.models import Event, HumanTask, ProcessInstance
from engine.schedules.models import InspectionOccurrence
from engine.schedules.service import Schedules, run_due_schedules

PLAN = {"planned_on": "2026-11-10", "planned_scenario": "实训楼火灾疏散"}
HELD = {"held_on": "2026-11-02", "scenario": "实训楼火灾疏散", "participants": 36, "summary": "3分钟内全部疏散到操场"}


def china(y, m, d, hh=8, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


def open_tasks(services, unit_id=None) -> list[HumanTask]:
    with services.uow() as uow:
        stmt = (select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .where(ProcessInstance.definition.has(key="emergency_drill"), HumanTask.state == "ready"))
        rows = list(uow.session.scalars(stmt.order_by(HumanTask.id)))
    return [t for t in rows if unit_id is None or t.candidate_org_id == unit_id]


@pytest.fixture
def drill_schedule(services, world):
    """Every unit of the school drills each semester, set up on Monday 2026-11-02 (the autumn semester 2026-S2)."""
    with services.uow() as uow:
        uow.session.get(OrgNode, world.orgs.college).headcount = 40
        uow.commit()
    return Schedules(services).create_schedule(world.users.security, {
        "title": "应急演练", "cadence": "semester", "kind": "drill", "target": {"all_units": True}})


def do_drill(services, world, unit_id, head, staff, held=HELD, evaluation="good"):
    [plan] = open_tasks(services, unit_id)
    assert plan.bpmn_id == "plan_drill" and plan.candidate_role == "department_head"
    services.complete_task(plan.id, head, PLAN)
    [record] = open_tasks(services, unit_id)
    assert (record.bpmn_id, record.candidate_role) == ("record_drill", "department_staff")
    services.complete_task(record.id, staff, held)
    [evaluate] = [t for t in open_tasks(services) if t.bpmn_id == "evaluate_drill"]
    assert (evaluate.candidate_role, evaluate.candidate_org_id) == ("security_office", world.orgs.school)
    services.complete_task(evaluate.id, world.users.security, {"evaluation": evaluation})


def test_a_semester_schedule_gives_each_unit_two_drills_that_land_in_the_records_and_nothing_else_starts_them(
        services, world, drill_schedule, clock):
    assert drill_schedule.next_run_at == china(2026, 9, 1), "the current semester started on 09-01"
    sweep = run_due_schedules(services)
    assert sweep.started == 1
    tasks = open_tasks(services)
    assert {t.candidate_org_id for t in tasks} == {world.orgs.college, world.orgs.logistics, world.orgs.security_unit}
    [college_plan] = open_tasks(services, world.orgs.college)
    assert college_plan.name == "应急演练：机电工程学院：制定第1次演练计划"
    assert college_plan.due_at == china(2027, 1, 16), "due at the end of the semester's window (P4M15D)"

    # A staff member cannot plan; a date in the future is refused and the task stays open.
    with pytest.raises(NotAllowed):
        services.complete_task(college_plan.id, world.users.staff, PLAN)
    services.complete_task(college_plan.id, world.users.head, PLAN)
    [record] = open_tasks(services, world.orgs.college)
    with pytest.raises(InvalidFormData) as refused:
        services.complete_task(record.id, world.users.staff, {**HELD, "held_on": "2026-11-20"})
    assert "held_on" in {e["field"] for e in refused.value.errors}
    assert open_tasks(services, world.orgs.college)[0].id == record.id
    services.complete_task(record.id, world.users.staff, HELD)
    [evaluate] = [t for t in open_tasks(services) if t.bpmn_id == "evaluate_drill"]
    with pytest.raises(InvalidFormData):
        services.complete_task(evaluate.id, world.users.security, {"evaluation": "fail"})  # needs notes
    services.complete_task(evaluate.id, world.users.security, {"evaluation": "fail", "evaluation_notes": "集合慢"})

    # The unit now plans its second drill; the first is on record with its evaluation.
    [second] = open_tasks(services, world.orgs.college)
    assert second.name == "应急演练：机电工程学院：制定第2次演练计划"
    with services.uow() as uow:
        [row] = uow.session.scalars(select(DrillRecord)).all()
        assert (row.unit_id, row.sequence, row.semester_key, row.held_on) == (
            world.orgs.college, 1, "2026-S2", date(2026, 11, 2))
        assert (row.participants, row.headcount, row.evaluation, row.evaluation_notes) == (36, 40, "fail", "集合慢")
    do_drill(services, world, world.orgs.college, world.users.head, world.users.staff2,
             {**HELD, "participants": 40}, "excellent")
    assert open_tasks(services, world.orgs.college) == [], "two drills held: the unit is done"

    Drills(services).record_education(world.users.staff, world.orgs.college, {
        "held_on": "2026-10-20", "topic": "消防安全专题讲座", "class_hours": 6, "participants": 40})
    with services.uow() as uow:
        s = uow.session
        figures = drills_by_unit(s, [world.orgs.college, world.orgs.logistics], date(2026, 9, 1), date(2027, 2, 28))
        security = accounts.get_user(s, world.users.security)
        semester = semester_of(s, world.orgs.school, key="2026-S2")
        rows = {r.unit_id: r for r in semester_table(s, security, s.get(OrgNode, world.orgs.school), semester)}
    assert figures[world.orgs.college] == {
        "headcount": 40, "drills_held": 2, "drill_participants": 76, "drill_participation": 0.95, "evaluated": 2,
        "failed": 1, "class_hours": 6.0, "education_sessions": 1, "education_participation": 1.0}
    assert figures[world.orgs.logistics]["drills_held"] == 0
    assert figures[world.orgs.logistics]["drill_participation"] is None, "no headcount entered"
    assert (semester.first_day, semester.last_day) == (date(2026, 9, 1), date(2027, 2, 28))
    college = rows[world.orgs.college]
    assert (college.drills_held, college.drills_required, college.class_hours, college.complete) == (2, 2, 6.0, False)

    # The process starts from its schedule only; a schedule's semester start days are checked data.
    with pytest.raises(InvalidFormData, match="started through its own page"):
        services.start_process("emergency_drill", world.users.designer, {})
    schedules = Schedules(services)
    data = {"title": "应急演练", "cadence": "semester", "kind": "drill", "target": {"all_units": True}}
    with pytest.raises(InvalidFormData) as refused:
        schedules.create_schedule(world.users.security, {**data, "semester_starts": ["02-30"]})
    assert [e["field"] for e in refused.value.errors] == ["semester_starts"]
    spring_late = schedules.create_schedule(world.users.security, {**data, "semester_starts": ["09-01", "02-20"]})
    assert spring_late.semester_starts == ["02-20", "09-01"] and spring_late.next_run_at == china(2026, 9, 1)
    with services.uow() as uow:
        semester = semester_of(uow.session, world.orgs.school, key="2026-S2")
    assert semester.last_day == date(2027, 2, 28), "the school's first semester schedule sets its semesters"


def test_a_unit_without_its_two_drills_is_reminded_and_escalated_and_the_next_semester_starts(
        services, world, drill_schedule, clock):
    run_due_schedules(services)
    do_drill(services, world, world.orgs.college, world.users.head, world.users.staff)
    [second] = open_tasks(services, world.orgs.college)
    due = china(2027, 1, 16)
    assert second.due_at == due

    clock.set(china(2027, 1, 14, 9))  # within the last five working days: a reminder
    escalation.escalate_overdue(services)
    clock.set(due + timedelta(minutes=1))
    escalation.escalate_overdue(services)
    with services.uow() as uow:
        assert uow.session.get(HumanTask, second.id).overdue_at == due + timedelta(minutes=1)
    # The head already holds the task, so the ladder's next rung is the security office, a working day later.
    clock.set(china(2027, 1, 20))
    escalation.escalate_overdue(services)
    with services.uow() as uow:
        s = uow.session
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.task_id == second.id).order_by(Event.id))]
        rows, _ = escalation.escalated_to(s, accounts.get_user(s, world.users.security))
        assert second.id in [t.id for t, _ in rows]
        assert s.get(HumanTask, second.id).escalation_level >= 2
    assert kinds.count("TaskReminderSent") == 1 and kinds.count("TaskOverdue") == 1
    assert kinds.count("TaskEscalated") >= 1

    # Spring semester: a new occurrence on its first working day, 2027-03-01 (a Monday), for every unit again.
    clock.set(china(2027, 3, 1, 8, 1))
    assert run_due_schedules(services).started == 1
    with services.uow() as uow:
        keys = list(uow.session.scalars(select(InspectionOccurrence.period_key).order_by(InspectionOccurrence.id)))
        instances = uow.session.scalar(select(func.count(ProcessInstance.id)).where(
            ProcessInstance.definition.has(key="emergency_drill")))
    assert keys == ["2026-S2", "2027-S1"] and instances == 2
    assert len([t for t in open_tasks(services, world.orgs.college) if t.bpmn_id == "plan_drill"]) == 2
