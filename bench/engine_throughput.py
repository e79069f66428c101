"""Engine throughput: Rectiflow's complete_task against the bare SpiffWorkflow loop, on SQLite and PostgreSQL.

Both sides run the same diagram (bpmn/hazard_rectification.bpmn) through the same steps: the rejection loop
rectify → accept_rectification(rejected) → rectify ... The bare loop is what a minimal integration does per
step: SELECT the state, deserialize (spec included, SpiffWorkflow's default serializer), complete the task,
run engine steps, serialize, one UPDATE and a commit. Rectiflow's side is the full service call: locks,
permission and separation-of-duty checks, JSON Schema validation, task projection, hazard ledger sync,
audit events and outbox rows, in one transaction.

The first figure line for SQLite reads `ratio=<rectiflow/bare>`. Over a long run that ratio includes the
benefit of Rectiflow compacting finished loop iterations out of the task tree (the bare loop's tree keeps
growing); `short_run_ratio` compares 20-step runs on fresh instances, where both trees stay small.

Usage: python bench/engine_throughput.py [--steps N] [--pg-url URL]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    select,
    update,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator  # noqa: E402
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from engine.assembly import assemble  # noqa: E402
from engine.infra.clock import FixedClock  # noqa: E402
from engine.infra.config import DEFAULT_BPMN_DIR  # noqa: E402
from engine.infra.db import make_engine, make_session_factory  # noqa: E402
from engine.infra.schema import upgrade  # noqa: E402
from engine.org import accounts  # noqa: E402
from engine.process.models import HumanTask  # noqa: E402
from engine.process.services import Services  # noqa: E402
from engine.rectification.hazards import report_hazard

DIAGRAM = DEFAULT_BPMN_DIR / "hazard_rectification.bpmn"
START = {"location": "实训楼", "problem": "防护罩缺失", "category": "实训实验室", "source": "self_check"}
REGISTER = {"grade": "general", "responsible_person": "x", "deadline": "2099-01-01", "onsite_fix": False}
PLAN = {"plan_owner": "x", "plan_measures": "y", "plan_deadline": "2099-01-01", "plan_contingency": "z"}
RECTIFY = {"measures": "m", "completion": "c"}
REJECT = {"accepted": False, "reason": "r"}


def _loop_data(bpmn_id: str) -> dict:
    return RECTIFY if bpmn_id == "rectify" else REJECT


# -- the bare SpiffWorkflow loop -------------------------------------------------------------------
def bare_loop(url: str, steps: int) -> float:
    """Steps per second of deserialize → complete → serialize → UPDATE + commit."""
    parser = SpiffBpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(DIAGRAM))
    spec = parser.get_spec("hazard_rectification")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    engine = create_engine(url)
    table = Table(f"bench_bare_{uuid.uuid4().hex[:8]}", MetaData(), Column("id", Integer, primary_key=True),
                  Column("state", Text))
    table.create(engine)
    workflow = BpmnWorkflow(spec)
    workflow.get_tasks(state=TaskState.READY)[0].data.update(START, school_id=1, bureau_id=1, responsible_unit_id=1)
    workflow.do_engine_steps()
    for data in (dict(REGISTER), PLAN):
        task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        task.data.update(data)
        task.run()
        workflow.do_engine_steps()
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1, state=serializer.serialize_json(workflow)))
    started = time.perf_counter()
    for _ in range(steps):
        with engine.begin() as conn:
            state = conn.execute(select(table.c.state).where(table.c.id == 1)).scalar_one()
            workflow = serializer.deserialize_json(state)
            task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
            task.data.update(_loop_data(task.task_spec.bpmn_id))
            task.run()
            workflow.do_engine_steps()
            conn.execute(update(table).where(table.c.id == 1).values(state=serializer.serialize_json(workflow)))
    elapsed = time.perf_counter() - started
    table.drop(engine)
    engine.dispose()
    return steps / elapsed


# -- Rectiflow ------------------------------------------------------------------------------------
def _services(url: str) -> tuple[Services, dict]:
    upgrade(url)
    clock = FixedClock()
    services = assemble(make_session_factory(make_engine(url)), clock, DEFAULT_BPMN_DIR)
    services.deploy_directory()
    with services.uow() as uow:
        s = uow.session
        tag = uuid.uuid4().hex[:6]
        bureau = accounts.add_org(s, "county", "区教育局", f"b-{tag}")
        school = accounts.add_org(s, "school", "学校", f"s-{tag}", bureau)
        unit = accounts.add_org(s, "unit", "学院", f"u-{tag}", school)
        now = clock.now()
        users = {
            "staff": accounts.add_user(s, f"staff-{tag}", "staff", "pw", unit, now, [("department_staff", unit)]).id,
            "head": accounts.add_user(s, f"head-{tag}", "head", "pw", unit, now, [("department_head", unit)]).id,
            "security": accounts.add_user(s, f"sec-{tag}", "sec", "pw", unit, now, [("security_office", school)]).id,
        }
        uow.commit()
    users["unit"] = unit.id
    return services, users


def _open_task(services: Services, hazard_id: int) -> HumanTask:
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask).where(HumanTask.hazard_id == hazard_id,
                                                          HumanTask.state == "ready")).one()


def _start_hazard(services: Services, users: dict) -> int:
    hazard = report_hazard(services, users["staff"], dict(START))
    services.complete_task(_open_task(services, hazard.id).id, users["security"],
                           dict(REGISTER, responsible_unit_id=users["unit"]))
    services.complete_task(_open_task(services, hazard.id).id, users["head"], PLAN)
    return hazard.id


def _step(services: Services, users: dict, hazard_id: int) -> float:
    task = _open_task(services, hazard_id)
    who = users["staff"] if task.bpmn_id == "rectify" else users["security"]
    started = time.perf_counter()
    services.complete_task(task.id, who, _loop_data(task.bpmn_id))
    return time.perf_counter() - started


def rectiflow_loop(services: Services, users: dict, steps: int) -> float:
    """Steps per second of Services.complete_task (the task lookup between steps is not timed)."""
    hazard_id = _start_hazard(services, users)
    return steps / sum(_step(services, users, hazard_id) for _ in range(steps))


def loop_growth(services: Services, users: dict, loops: int = 50, sample: int = 10) -> tuple[float, float]:
    """Median seconds per step after 1 rejection loop and after `loops` loops."""
    hazard_id = _start_hazard(services, users)
    early, late = [], []
    for loop in range(1, loops + sample + 1):
        times = [_step(services, users, hazard_id), _step(services, users, hazard_id)]  # rectify + reject
        if loop <= sample:
            early.extend(times)
        if loop > loops:
            late.extend(times)
    return statistics.median(early), statistics.median(late)


def run(label: str, url: str, steps: int) -> None:
    services, users = _services(url)
    rectiflow_loop(services, users, 10)  # warm the spec cache and the connection pool
    bare_loop(url, 10)
    bare = bare_loop(url, steps)
    ours = rectiflow_loop(services, users, steps)
    print(f"{label}: ratio={ours / bare:.2f} rectiflow_steps_per_s={ours:.1f} bare_steps_per_s={bare:.1f}")
    # On short runs both task trees stay small, so this ratio shows the per-step overhead alone,
    # without the benefit of Rectiflow's loop compaction.
    short_bare = statistics.mean(bare_loop(url, 20) for _ in range(5))
    short_ours = statistics.mean(rectiflow_loop(services, users, 20) for _ in range(5))
    print(f"{label}: short_run_ratio={short_ours / short_bare:.2f} (20 steps per fresh instance, 5 runs)")
    first, fiftieth = loop_growth(services, users)
    print(f"{label}: step_ms_loop1={first * 1000:.1f} step_ms_loop50={fiftieth * 1000:.1f} "
          f"growth={fiftieth / first:.2f}x")
    services.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per throughput run (default 200)")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL database to create a scratch database in")
    args = parser.parse_args()
    print("load average (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args.steps)
    with scratch_database(args.pg_url) as url:
        run("postgresql", url, args.steps)
    print("load average (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
