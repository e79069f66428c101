"""Timer start events: a process whose start event is a timer starts on schedule, once per due slot."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import select

from engine.assembly import assemble
from engine.infra.clock import FixedClock
from engine.infra.db import make_engine, make_session_factory
from engine.infra.errors import WorkflowFailed
from engine.infra.timezone import CHINA
from engine.process.models import Event, HumanTask, Incident, OutboxMessage, ProcessInstance
from engine.process.timer_starts import TimerStart, first_slot, parse_cycle, timer_text
from tests.admins import add_admin
from web.cli.main import main

FOREIGN = Path(__file__).resolve().parents[3] / "shared" / "foreign-bpmn"

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_{key}"
    targetNamespace="http://example.org/timers">
  <bpmn:process id="{key}" name="定时巡查" isExecutable="true">
    <bpmn:startEvent id="tick" name="定时">
      <bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:timerEventDefinition id="t1"><bpmn:{kind}>{expression}</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:scriptTask id="note" name="记录"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="tick" targetRef="note" />
    <bpmn:sequenceFlow id="f2" sourceRef="note" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
NONE_START = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_{key}"
    targetNamespace="http://example.org/timers">
  <bpmn:process id="{key}" name="手动" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def deploy(services, key="watch", kind="timeCycle", expression="R3/PT1H", script="seen = timer_scheduled_at"):
    source = DIAGRAM.format(key=key, kind=kind, expression=expression, script=script).encode("utf-8")
    return services.deploy_definition(source, f"{key}.bpmn")


def instances(services, key="watch"):
    """(status, scheduled slot the process itself saw) of each started instance, oldest first."""
    with services.uow() as uow:
        rows = uow.session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)).all()
        out = []
        for row in rows:
            if row.definition.key != key:
                continue
            data = services.runtime.load(row.definition, row.state_json).data
            out.append((row.status, data.get("seen")))
        return out


def schedule(services, key="watch") -> TimerStart:
    with services.uow() as uow:
        return uow.session.scalars(select(TimerStart).where(TimerStart.process_key == key)).one()


def test_a_bare_camunda_cycle_starts_one_instance_per_slot_and_stops_after_its_repetitions(services, clock):
    t0 = clock.now()
    deploy(services)  # R3/PT1H, written unquoted as Camunda does
    assert services.fire_timer_starts().started == []
    row = schedule(services)
    assert (row.kind, row.expression, row.next_start_at, row.remaining) == ("cycle", "R3/PT1H", t0 + timedelta(hours=1), 3)

    clock.advance(hours=2, minutes=5)  # two slots are due: each gets its own instance
    sweep = services.fire_timer_starts()
    assert len(sweep.started) == 2 and sweep.failed == []
    slots = [(t0 + timedelta(hours=h)).isoformat() for h in (1, 2, 3)]
    assert instances(services) == [("completed", slots[0]), ("completed", slots[1])]
    assert services.fire_timer_starts().started == [], "a second sweep finds nothing due"

    clock.advance(hours=10)
    assert len(services.fire_timer_starts().started) == 1
    assert [s for _, s in instances(services)] == slots
    row = schedule(services)
    assert (row.next_start_at, row.remaining, row.started, row.last_started_at) == (None, 0, 3, t0 + timedelta(hours=3))
    clock.advance(days=3)
    assert services.fire_timer_starts().started == []
    with services.uow() as uow:
        events = uow.session.scalars(select(Event).where(Event.kind == "ProcessStarted")).all()
        timer_events = [e.data for e in events if e.data.get("trigger") == "timer"]
    assert [e["scheduled_at"] for e in timer_events] == slots
    assert {e["start_event"] for e in timer_events} == {"tick"}


def test_time_date_and_duration_start_once(services, clock):
    deploy(services, key="christmas", kind="timeDate", expression='"2026-12-24T09:00:00+08:00"')
    deploy(services, key="later", kind="timeDuration", expression='"PT30M"')
    clock.advance(minutes=29)
    assert services.fire_timer_starts().started == []
    clock.advance(minutes=1)  # exactly due
    assert len(services.fire_timer_starts().started) == 1
    assert instances(services, "later") == [("completed", (clock.now()).isoformat())]

    clock.set(datetime(2026, 12, 24, 8, 59, tzinfo=CHINA).astimezone(timezone.utc))
    assert services.fire_timer_starts().started == []
    clock.set(datetime(2026, 12, 24, 9, 0, tzinfo=CHINA).astimezone(timezone.utc))
    assert len(services.fire_timer_starts().started) == 1
    clock.advance(days=400)
    assert services.fire_timer_starts().started == []
    assert len(instances(services, "christmas")) == 1 and len(instances(services, "later")) == 1


def test_an_unbounded_cycle_catches_up_and_a_redeploy_keeps_or_resets_the_schedule(services, clock):
    t0 = clock.now()
    deploy(services, expression='"R/PT1H"')
    clock.advance(hours=5)
    assert len(services.fire_timer_starts().started) == 5
    assert schedule(services).remaining is None

    # Another script, the same timer: the schedule goes on (no slot repeated, none lost).
    deploy(services, expression='"R/PT1H"', script="seen = timer_scheduled_at\nagain = 1")
    clock.advance(minutes=30)
    assert services.fire_timer_starts().started == []
    clock.advance(minutes=30)
    assert len(services.fire_timer_starts().started) == 1
    assert schedule(services).next_start_at == t0 + timedelta(hours=7)

    # A changed timer starts afresh from its own deploy.
    v3 = deploy(services, expression='"R2/PT10M"')
    services.fire_timer_starts()
    row = schedule(services)
    assert (row.definition_id, row.next_start_at, row.remaining) == (v3.id, clock.now() + timedelta(minutes=10), 2)

    # A version whose start event is no timer stops it.
    services.deploy_definition(NONE_START.format(key="watch").encode(), "watch.bpmn")
    clock.advance(hours=3)
    assert services.fire_timer_starts().started == []
    assert schedule(services).next_start_at is None
    assert len(instances(services)) == 6


BOTH = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_both"
    targetNamespace="http://example.org/timers">
  <bpmn:process id="both" name="手动或定时" isExecutable="true">
    <bpmn:startEvent id="by_hand"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:startEvent id="hourly"><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
    <bpmn:scriptTask id="note"><bpmn:incoming>f0</bpmn:incoming><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>seen = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="by_hand" targetRef="note" />
    <bpmn:sequenceFlow id="f1" sourceRef="hourly" targetRef="note" />
    <bpmn:sequenceFlow id="f2" sourceRef="note" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_process_with_a_none_and_a_timer_start_runs_each_path_once(services, world, clock):
    services.deploy_definition(BOTH.encode("utf-8"), "both.bpmn")
    by_hand = services.start_process("both", world.users.designer)
    # Started by hand, it does not also wait at its timer start event (nor evaluate the bare R3/PT1H).
    assert (by_hand.status, by_hand.next_timer_at) == ("completed", None)
    clock.advance(hours=1)
    assert len(services.fire_timer_starts().started) == 1
    assert instances(services, "both") == [("completed", 1), ("completed", 1)]
    with services.uow() as uow:
        started = uow.session.scalars(select(Event).where(Event.kind == "ProcessStarted")).all()
    assert [e.data.get("start_event") for e in started if e.data.get("key") == "both"] == [None, "hourly"]


LANED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_weekly"
    targetNamespace="http://example.org/timers">
  <bpmn:process id="weekly_check" name="每周检查" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="lane_security" name="security_office">
      <bpmn:flowNodeRef>check</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="monday"><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle>R/P7D</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
    <bpmn:userTask id="check" name="每周消防检查"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="monday" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_process_that_starts_only_by_its_timer_is_not_started_by_hand(services, world):
    deploy(services)
    with pytest.raises(WorkflowFailed, match="starts only on its timer schedule"):
        services.start_process("watch", world.users.designer)
    assert instances(services) == []


def test_a_timer_started_task_reaches_the_lane_at_the_deploying_designers_school(services, world, clock):
    services.deploy_definition(LANED.encode("utf-8"), "weekly_check.bpmn", world.users.designer)
    clock.advance(days=7)
    (instance_id,) = services.fire_timer_starts().started
    with services.uow() as uow:
        tasks = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
    assert [(t.bpmn_id, t.candidate_role, t.candidate_org_id) for t in tasks] == [
        ("check", "security_office", world.orgs.school)]
    services.complete_task(tasks[0].id, world.users.security, {})
    assert instances(services, "weekly_check") == [("completed", None)]


def test_a_failing_start_keeps_its_instance_with_an_incident_and_does_not_stall_the_sweep(services, world, clock):
    source = DIAGRAM.format(key="broken", kind="timeCycle", expression='"R2/PT1H"',
                            script="seen = no_such_variable").encode("utf-8")
    services.deploy_definition(source, "broken.bpmn", world.users.designer)
    deploy(services, key="fine", expression='"R1/PT1H"')
    clock.advance(hours=1)
    sweep = services.fire_timer_starts()
    assert len(sweep.started) == 2 and len(sweep.failed) == 1
    assert "broken/tick" in sweep.failed[0] and "no_such_variable" in sweep.failed[0]
    # The broken slot's instance waits where its timer left it (nothing after the start ran), with an incident.
    assert instances(services, "broken") == [("running", None)] and len(instances(services, "fine")) == 1
    row = schedule(services, "broken")
    assert "no_such_variable" in row.last_error and row.remaining == 1 and row.started == 1
    with services.uow() as uow:
        failed = uow.session.scalars(select(Event).where(Event.kind == "TimerStartFailed")).all()
        [incident] = uow.session.scalars(select(Incident)).all()
        assert [e.data["key"] for e in failed] == ["broken"]
        assert (incident.kind, incident.status, incident.element_id, incident.element_name, incident.variable) == (
            "start", "open", "note", "记录", "no_such_variable")
        assert incident.instance_id == row.last_instance_id and incident.org_id == world.orgs.school
        told = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "incident_opened")).all()
        assert [m.recipient_id for m in told] == [world.users.designer]

    # An administrator fixes the data and retries: the instance moves on to its end; the next slot runs as usual.
    admin = add_admin(services, world)
    services.set_instance_variables(incident.instance_id, admin, {"no_such_variable": "修好了"})
    assert services.retry_incident(incident.id, admin).status == "resolved"
    assert instances(services, "broken") == [("completed", "修好了")]


def test_an_unreadable_timer_is_reported_once_and_kept_on_its_row(services, clock):
    deploy(services, key="vague", expression="start_when")  # compiles, but names data a timer start never has
    first = services.fire_timer_starts()
    assert first.started == [] and len(first.failed) == 1 and "vague/tick" in first.failed[0]
    assert services.fire_timer_starts().failed == [], "reported when the version is first seen, not every sweep"
    row = schedule(services, "vague")
    assert row.next_start_at is None and "neither an ISO 8601" in row.last_error


def test_fire_timers_at_a_given_time_runs_the_sweep_and_the_timer_starts(services, database_url):
    deploy(services, key="christmas", kind="timeDate", expression='"2026-12-24T09:00:00+08:00"')
    runner = CliRunner()
    early = runner.invoke(main, ["--database-url", database_url, "fire-timers", "--at", "2026-12-24T08:59+08:00"])
    assert early.exit_code == 0, early.output
    assert "started=0" in early.output
    due = runner.invoke(main, ["--database-url", database_url, "fire-timers", "--at", "2026-12-24T09:00+08:00"])
    assert due.exit_code == 0, due.output
    assert "started=1 (instance" in due.output and "failed=0" in due.output
    assert len(instances(services, "christmas")) == 1
    again = runner.invoke(main, ["--database-url", database_url, "fire-timers", "--at", "2026-12-24T01:00"])  # UTC
    assert "started=0" in again.output
    bad = runner.invoke(main, ["--database-url", database_url, "fire-timers", "--at", "Christmas"])
    assert bad.exit_code != 0 and "not an ISO 8601 time" in bad.output
    listed = runner.invoke(main, ["--database-url", database_url, "timer-starts"])
    assert listed.exit_code == 0, listed.output
    assert "christmas/tick" in listed.output and "next -  0 left  started 1, last 2026-12-24 09:00" in listed.output


def test_two_concurrent_sweeps_start_each_slot_exactly_once(services, database_url, bpmn_dir, clock):
    for i in range(4):
        deploy(services, key=f"watch{i}", expression='"R/PT1H"')
    clock.advance(hours=3, minutes=1)  # three slots due on each of four processes
    other = assemble(make_session_factory(make_engine(database_url)), FixedClock(clock.now()), bpmn_dir)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep(svc):
        barrier.wait()
        try:
            results.append(svc.fire_timer_starts())
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(svc,)) for svc in (services, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert errors == []
    assert sum(len(r.started) for r in results) == 12 and not any(r.failed for r in results)
    with services.uow() as uow:
        events = uow.session.scalars(select(Event).where(Event.kind == "ProcessStarted")).all()
    per_slot = Counter((e.data["key"], e.data["scheduled_at"]) for e in events if e.data.get("trigger") == "timer")
    assert len(per_slot) == 12 and set(per_slot.values()) == {1}
    assert services.fire_timer_starts().started == []


def test_schedules_are_read_as_spiffworkflow_and_iso_8601_read_them():
    deployed = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)
    assert timer_text('"R2/PT0.1S"') == "R2/PT0.1S" and timer_text("R3/PT1H") == "R3/PT1H"
    start = datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)
    # A cycle from a start before the deploy: the slots already past are skipped, not owed.
    assert first_slot("cycle", f"R5/{start.isoformat()}/PT1H", deployed) == (deployed, 3)  # 01:00 itself is owed
    assert first_slot("cycle", f"R5/{start.isoformat()}/PT1H", deployed + timedelta(minutes=1)) == (
        deployed + timedelta(hours=1), 2)
    assert first_slot("cycle", "R2/PT1H/2026-12-02T00:00:00+00:00", deployed) == (
        datetime(2026, 12, 1, 23, tzinfo=timezone.utc), 2)
    assert parse_cycle("R/P1D", deployed) == (None, deployed + timedelta(days=1), timedelta(days=1))
    with pytest.raises(Exception, match="repeating interval"):
        parse_cycle("PT1H", deployed)
    with pytest.raises(Exception, match="neither an ISO 8601"):
        timer_text("next tuesday")


def test_the_foreign_cycle_start_diagram_yields_its_schedule():
    path = FOREIGN / "spiffworkflow" / "bpmn" / "data" / "timer-cycle-start.bpmn"
    if not path.is_file():
        pytest.skip(f"FOREIGN DIAGRAM ABSENT: {path} (../shared/foreign-bpmn not checked out)")
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(path))
    spec = parser.get_spec("timer")
    start = spec.task_specs["CycleStart"]
    text = timer_text(start.event_definition.expression)
    deployed = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert text == "R2/PT0.1S"
    assert first_slot("cycle", text, deployed) == (deployed + timedelta(seconds=0.1), 2)
