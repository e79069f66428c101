"""Recurring inspections with a moved clock, on SQLite and PostgreSQL: occurrences start once per period, missed
periods are recorded, unfinished patrols climb the ordinary escalation ladder."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select

from engine.campaigns import checklists
from engine.campaigns.models import Campaign, CampaignUnit
from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.org.models import RoleGrant
from engine.process import escalation
from engine.process.models import Event, HumanTask, OutboxMessage, ProcessInstance
from engine.schedules import queries as schedule_queries
from engine.schedules.models import InspectionOccurrence, InspectionSchedule
from engine.schedules.seeds import install_set
from engine.schedules.service import Schedules, run_due_schedules

CSV = ("督查项目,序号,督查内容,督查方法,责任部门\n"
       "消防安全,1,消防设施设备配备管理情况,查阅资料 现场查看,各二级学院 保卫处 后勤管理处\n").encode()


def china(y, m, d, hh=8, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(timezone.utc)


@pytest.fixture
def schedules(services):
    return Schedules(services)


@pytest.fixture
def daily_patrol(schedules, world):
    """The college patrols its training building every day (window P1D), set up Monday 2026-11-02 09:00."""
    return schedules.create_schedule(world.users.security, {
        "title": "重点部位每日巡视", "cadence": "daily", "kind": "patrol", "window": "P1D",
        "target": {"role": "department_staff", "units": [{"org_id": world.orgs.college, "sites": ["实训楼A"]}]}})


def _tasks(services, schedule_id=None, state=None) -> list[HumanTask]:
    with services.uow() as uow:
        stmt = select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(
            ProcessInstance.definition.has(key="patrol"))
        if schedule_id is not None:
            stmt = stmt.where(ProcessInstance.business_key.startswith(f"inspection:{schedule_id}:"))
        if state is not None:
            stmt = stmt.where(HumanTask.state == state)
        return list(uow.session.scalars(stmt.order_by(HumanTask.id)))


def _occurrences(services, schedule_id) -> list[InspectionOccurrence]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(InspectionOccurrence).where(
            InspectionOccurrence.schedule_id == schedule_id).order_by(InspectionOccurrence.period_key)))


def _schedule(services, schedule_id) -> InspectionSchedule:
    with services.uow() as uow:
        return uow.session.get(InspectionSchedule, schedule_id)


def test_daily_patrol_starts_one_task_a_day_for_the_unit_and_a_second_sweep_starts_nothing(
        services, world, daily_patrol, clock):
    assert daily_patrol.next_run_at == china(2026, 11, 2), "the current period: today 08:00, already due"
    first = run_due_schedules(services)
    assert (first.started, first.missed) == (1, 0)
    [task] = _tasks(services)
    assert (task.candidate_role, task.candidate_org_id) == ("department_staff", world.orgs.college)
    assert task.name == "重点部位每日巡视：实训楼A" and task.due_at == china(2026, 11, 3)
    assert task.next_escalation_at == china(2026, 11, 3), "no reminder: the ladder starts at the due time"
    assert run_due_schedules(services).started == 0 and len(_tasks(services)) == 1
    assert _schedule(services, daily_patrol.id).next_run_at == china(2026, 11, 3)

    clock.set(china(2026, 11, 3, 7, 59))
    assert run_due_schedules(services).started == 0
    clock.set(china(2026, 11, 3, 8, 1))
    assert run_due_schedules(services).started == 1
    assert [o.period_key for o in _occurrences(services, daily_patrol.id)] == ["2026-11-02", "2026-11-03"]
    assert len(_tasks(services)) == 2
    with services.uow() as uow:
        kinds = [e.kind for e in uow.session.scalars(select(Event).where(Event.kind == "InspectionStarted"))]
        created = uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "task_created", OutboxMessage.recipient_org_id == world.orgs.college))
    assert kinds == ["InspectionStarted", "InspectionStarted"] and created == 2


def test_a_week_offline_starts_one_occurrence_and_records_the_rest_as_missed(services, world, daily_patrol, clock):
    run_due_schedules(services)
    clock.set(china(2026, 11, 9, 10))  # the scheduler was down from Tuesday to the next Monday
    sweep = run_due_schedules(services)
    assert (sweep.started, sweep.missed) == (1, 6)
    occurrences = _occurrences(services, daily_patrol.id)
    assert [(o.period_key, o.status) for o in occurrences] == (
        [("2026-11-02", "open")] + [(f"2026-11-{d:02d}", "missed") for d in range(3, 9)] + [("2026-11-09", "open")])
    assert all(o.instance_id is None and o.started_at is None for o in occurrences if o.status == "missed")
    assert len(_tasks(services)) == 2
    with services.uow() as uow:
        s = uow.session
        missed_events = s.scalar(select(func.count()).select_from(Event).where(Event.kind == "InspectionMissed"))
        notices = list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "inspection_missed")))
    assert missed_events == 6
    assert [(n.recipient_role, n.recipient_org_id, len(n.payload["periods"])) for n in notices] == [
        ("security_office", world.orgs.school, 6)]
    assert run_due_schedules(services).started == 0
    assert _schedule(services, daily_patrol.id).next_run_at == china(2026, 11, 10)


def test_weekly_fire_check_day_starts_on_its_weekday_for_the_security_office(services, schedules, world, clock):
    schedule = schedules.create_schedule(world.users.security, {
        "title": "消防安全检查日", "cadence": "weekly", "weekday": 5, "kind": "patrol",
        "target": {"role": "security_office", "sites": ["学生宿舍", "食堂"]}})
    assert schedule.window == "P1D" and schedule.target["units"] == [
        {"org_id": world.orgs.school, "sites": ["学生宿舍", "食堂"]}]
    clock.set(china(2026, 11, 6, 7, 59))
    assert run_due_schedules(services).started == 0
    clock.set(china(2026, 11, 6, 8, 0))
    assert run_due_schedules(services).started == 1
    [task] = _tasks(services)
    assert (task.bpmn_id, task.candidate_role, task.candidate_org_id) == (
        "security_check", "security_office", world.orgs.school)
    assert task.name == "消防安全检查日：学生宿舍、食堂"
    assert [o.period_key for o in _occurrences(services, schedule.id)] == ["2026-W45"]
    assert _schedule(services, schedule.id).next_run_at == china(2026, 11, 13)
    services.complete_task(task.id, world.users.security, {"result": "normal", "site": "学生宿舍、食堂"})
    with services.uow() as uow:
        [view] = schedule_queries.occurrences(uow.session, schedule.id, clock.now())[0]
    assert (view.state, view.tasks_done, view.tasks_total) == ("done", 1, 1)


def test_monthly_check_gives_every_unit_its_own_task_on_the_first_working_day(services, schedules, world, clock):
    schedule = schedules.create_schedule(world.users.security, {
        "title": "二级单位安全除患大排查大整改", "cadence": "monthly", "kind": "patrol",
        "target": {"all_units": True}})
    assert schedule.window == "P7D" and schedule.next_run_at == china(2026, 11, 2)  # 11-01 is a Sunday
    assert run_due_schedules(services).started == 1
    tasks = _tasks(services)
    assert sorted(t.candidate_org_id for t in tasks) == sorted(
        [world.orgs.college, world.orgs.logistics, world.orgs.security_unit])
    assert {t.candidate_role for t in tasks} == {"department_staff"}
    assert {t.due_at for t in tasks} == {china(2026, 11, 9)}
    assert "二级单位安全除患大排查大整改：机电工程学院" in {t.name for t in tasks}
    assert _schedule(services, schedule.id).next_run_at == china(2026, 12, 1)
    college_task = next(t for t in tasks if t.candidate_org_id == world.orgs.college)
    with pytest.raises(NotAllowed):
        services.complete_task(college_task.id, world.users.logistics_staff, {"result": "normal"})
    with pytest.raises(InvalidFormData) as refused:
        services.complete_task(college_task.id, world.users.staff, {"result": "hazard_found"})
    assert refused.value.field == "notes", "a hazard found needs a note (and a report through the report form)"
    services.complete_task(college_task.id, world.users.staff, {"result": "normal"})
    clock.set(china(2026, 11, 9, 9))
    with services.uow() as uow:
        [view] = schedule_queries.occurrences(uow.session, schedule.id, clock.now())[0]
    assert (view.state, view.tasks_done, view.tasks_total) == ("overdue", 1, 3)


def test_quarterly_campus_wide_check_starts_a_campaign_once(services, schedules, world, clock):
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "季度清单", clock.now())
        uow.commit()
    schedule = schedules.create_schedule(world.users.security, {
        "title": "全校安全隐患大排查大整改", "cadence": "quarterly", "kind": "campaign", "window": "P30D",
        "template_id": template.id, "target": {"all_units": True}, "starts_on": "2027-01-01"})
    assert schedule.next_run_at == china(2027, 1, 4), "元旦 and the weekend: the first working day"
    clock.set(china(2027, 1, 4, 8, 5))
    assert run_due_schedules(services).started == 1
    assert run_due_schedules(services).started == 0
    [occurrence] = _occurrences(services, schedule.id)
    assert (occurrence.period_key, occurrence.due_at) == ("2027-Q1", china(2027, 2, 3))
    with services.uow() as uow:
        s = uow.session
        [campaign] = s.scalars(select(Campaign))
        units = set(s.scalars(select(CampaignUnit.org_id).where(CampaignUnit.campaign_id == campaign.id)))
    assert occurrence.campaign_id == campaign.id and campaign.title == "全校安全隐患大排查大整改（2027-Q1）"
    assert campaign.created_by_id == world.users.security and campaign.org_id == world.orgs.school
    assert units == {world.orgs.college, world.orgs.logistics, world.orgs.security_unit}
    assert campaign.stages["self_check"] == {"start": "2027-01-04", "end": "2027-01-15"}
    assert campaign.stages["supervision"]["end"] == "2027-02-02"
    assert _schedule(services, schedule.id).next_run_at == china(2027, 4, 1)


def test_an_unfinished_patrol_becomes_overdue_and_climbs_the_escalation_ladder(
        services, world, daily_patrol, clock):
    run_due_schedules(services)
    [task] = _tasks(services)
    ladder = [(china(2026, 11, 3), world.users.head, 1), (china(2026, 11, 4), world.users.security, 2),
              (china(2026, 11, 5), world.users.leader, 3)]
    for when, receiver, level in ladder:
        clock.set(when - timedelta(minutes=1))
        escalation.escalate_overdue(services)
        with services.uow() as uow:
            assert uow.session.get(HumanTask, task.id).escalation_level == level - 1
            rows, _ = escalation.escalated_to(uow.session, accounts.get_user(uow.session, receiver))
            assert task.id not in [t.id for t, _ in rows]
        clock.set(when + timedelta(minutes=1))
        escalation.escalate_overdue(services)
        with services.uow() as uow:
            assert uow.session.get(HumanTask, task.id).escalation_level == level
            rows, _ = escalation.escalated_to(uow.session, accounts.get_user(uow.session, receiver))
            assert task.id in [t.id for t, _ in rows]
    with services.uow() as uow:
        s = uow.session
        row = s.get(HumanTask, task.id)
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.task_id == task.id).order_by(Event.id))]
        [view] = [v for v in schedule_queries.occurrences(s, daily_patrol.id, clock.now())[0]
                  if v.period_key == "2026-11-02"]
    assert row.overdue_at == china(2026, 11, 3, 8, 1) and row.next_escalation_at is None
    assert kinds.count("TaskOverdue") == 1 and kinds.count("TaskEscalated") == 3
    assert "TaskReminderSent" not in kinds and view.state == "overdue"


def test_pausing_stops_occurrences_without_recording_them_missed(services, schedules, world, daily_patrol, clock):
    run_due_schedules(services)
    paused = schedules.set_active(world.users.security, daily_patrol.id, False)
    assert (paused.active, paused.next_run_at) == (False, None)
    clock.set(china(2026, 11, 5, 9))
    assert run_due_schedules(services).started == 0
    resumed = schedules.set_active(world.users.security, daily_patrol.id, True)
    assert resumed.next_run_at == china(2026, 11, 5)
    run_due_schedules(services)
    assert [(o.period_key, o.status) for o in _occurrences(services, daily_patrol.id)] == [
        ("2026-11-02", "open"), ("2026-11-05", "open")]
    with pytest.raises(NotAllowed):
        schedules.set_active(world.users.leader, daily_patrol.id, False)
    with pytest.raises(NotFound):
        schedules.set_active(world.users.outsider, daily_patrol.id, False)


def test_an_occurrence_the_engine_refuses_is_recorded_failed_and_the_schedule_moves_on(services, schedules, world,
                                                                                    clock):
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "季度清单", clock.now())
        uow.commit()
    schedule = schedules.create_schedule(world.users.security, {
        "title": "全校大排查", "cadence": "monthly", "kind": "campaign", "window": "P10D",
        "template_id": template.id, "target": {"all_units": True}})
    with services.uow() as uow:  # the creator leaves the security office
        uow.session.execute(delete(RoleGrant).where(RoleGrant.user_id == world.users.security))
        uow.commit()
    sweep = run_due_schedules(services)
    assert (sweep.started, sweep.failed) == (0, 1)
    [occurrence] = _occurrences(services, schedule.id)
    assert occurrence.status == "failed" and "security office" in occurrence.note
    assert _schedule(services, schedule.id).next_run_at == china(2026, 12, 1)
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Campaign)) == 0
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "inspection_failed")) == 1
    assert run_due_schedules(services).failed == 0


@pytest.mark.parametrize("data, fields", [
    ({"title": "", "cadence": "hourly", "target": {"all_units": True}}, {"title", "cadence"}),
    ({"title": "周检", "cadence": "weekly", "target": {"all_units": True}}, {"weekday"}),
    ({"title": "巡查", "cadence": "daily", "target": {"role": "grid_officer", "all_units": True}}, {"target.role"}),
    ({"title": "巡查", "cadence": "daily", "window": "1D", "target": {}}, {"window", "target.units"}),
    ({"title": "季检", "cadence": "quarterly", "kind": "campaign", "window": "P2D", "target": {"all_units": True}},
     {"window", "template_id"}),
])
def test_invalid_schedules_name_each_field(schedules, world, data, fields):
    with pytest.raises(InvalidFormData) as refused:
        schedules.create_schedule(world.users.security, data)
    assert {e["field"] for e in refused.value.errors} == fields


def test_units_of_another_school_and_non_managers_are_refused(schedules, world):
    with pytest.raises(InvalidFormData, match="target.units.0.org_id"):
        schedules.create_schedule(world.users.security, {"title": "巡查", "cadence": "daily", "target": {
            "units": [{"org_id": world.orgs.foreign_unit}]}})
    with pytest.raises(NotAllowed):
        schedules.create_schedule(world.users.head, {"title": "巡查", "cadence": "daily", "target": {
            "units": [{"org_id": world.orgs.college}]}})
    with pytest.raises(NotFound):
        schedules.create_schedule(world.users.security, {"school_id": world.orgs.other_school, "title": "巡查",
                                                         "cadence": "daily", "target": {"all_units": True}})


def test_seed_004_installs_five_schedules_once_resolving_sites_to_their_units(services, world, clock):
    installed = install_set(services, world.orgs.school, world.users.security)
    assert [key for key, _ in installed.created] == [
        "quarterly_campus", "monthly_units", "daily_key_sites", "semester_drills", "weekly_fire_check_day"]
    assert installed.problems == [f"daily_key_sites: no unit of 某职业学院 manages {site}"
                                  for site in ("管理办公楼", "大学生活动中心")]
    with services.uow() as uow:
        rows = {r.source: r for r in uow.session.scalars(select(InspectionSchedule))}
    daily = rows["seed004:daily_key_sites"]
    assert daily.target["units"] == [{"org_id": world.orgs.logistics, "sites": ["学生公寓", "食堂", "水源", "三级建筑"]}]
    assert (rows["seed004:weekly_fire_check_day"].weekday, rows["seed004:weekly_fire_check_day"].target["role"]) == (
        5, "security_office")
    assert rows["seed004:quarterly_campus"].kind == "campaign" and rows["seed004:quarterly_campus"].template_id
    drills = rows["seed004:semester_drills"]
    assert (drills.cadence, drills.kind, drills.semester_starts, drills.window) == (
        "semester", "drill", ["03-01", "09-01"], "P4M15D")
    again = install_set(services, world.orgs.school, world.users.security)
    assert again.created == [] and len(again.existing) == 5
