"""Escalation sweep cost with 1,000,000 open tasks on PostgreSQL: a sweep with nothing due, and one with 10,000 due.

The tasks are inserted with one INSERT ... SELECT generate_series (no Python per row). The idle sweep must cost
what is due (nothing), not what exists: it reads the indexed `next_escalation_at`. The due sweep marks 10,000
tasks overdue and escalates each to its unit head, one transaction per task (event, escalation row, two outbox
rows, task update). Goals: idle < 50 ms, due < 10 s.

Prints `idle_ms=<n>` and `due_s=<n>`.

Usage: python bench/escalation_sweep.py [--tasks N] [--due N] [--pg-url URL]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_services  # noqa: E402
from engine.infra.clock import FixedClock  # noqa: E402
from engine.infra.config import DEFAULT_BPMN_DIR  # noqa: E402
from engine.org import accounts
from engine.process import escalation  # noqa: E402
from engine.process.models import ProcessInstance  # noqa: E402
from engine.process.services import Services  # noqa: E402

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)  # a Tuesday, 20:00 in China


def build(services: Services, tasks: int) -> int:
    """A school with one unit and its head, one process instance, and `tasks` open tasks due far ahead."""
    diagram = DEFAULT_BPMN_DIR / "hazard_rectification.bpmn"
    definition = services.deploy_definition(diagram.read_bytes(), diagram.name)
    with services.uow() as uow:
        s = uow.session
        bureau = accounts.add_org(s, "county", "某区教育局", "b")
        school = accounts.add_org(s, "school", "某学院", "b-s", bureau)
        unit = accounts.add_org(s, "unit", "机电学院", "b-s-u", school)
        head = accounts.add_user(s, "head", "刘院长", "x", unit, NOW, roles=[("department_head", unit)])
        unit.head_user_id = head.id
        instance = ProcessInstance(definition_id=definition.id, business_key="bench", status="running",
                                   state_json="{}", started_at=NOW, updated_at=NOW)
        s.add(instance)
        uow.commit()
        unit_id, instance_id = unit.id, instance.id
    engine = services.session_factory.kw["bind"]
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO human_tasks (instance_id, spiff_task_id, bpmn_id, name, lane, stage, candidate_role,
                candidate_org_id, due_at, priority, state, created_at, escalation_step, escalation_level,
                next_escalation_at)
            SELECT :instance, 't' || g, 'rectify', '落实整改', 'department_staff', 'rectify', 'department_staff',
                :unit, :due + (g % 1000) * interval '1 minute', 50, 'ready', :now, 1, 0,
                :due + (g % 1000) * interval '1 minute'
            FROM generate_series(1, :n) AS g
        """), {"instance": instance_id, "unit": unit_id, "n": tasks, "now": NOW, "due": NOW + timedelta(days=30)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE human_tasks"))
    return unit_id


def make_due(services: Services, due: int) -> None:
    """Bring `due` tasks' due time to one minute ago, as if their deadline had just passed."""
    with services.session_factory.kw["bind"].begin() as conn:
        conn.execute(text("""
            UPDATE human_tasks SET due_at = :past, next_escalation_at = :past
            WHERE id IN (SELECT id FROM human_tasks ORDER BY id DESC LIMIT :n)
        """), {"past": NOW - timedelta(minutes=1), "n": due})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    with scratch_services(args.pg_url, FixedClock(NOW)) as services:
        started = time.perf_counter()
        build(services, args.tasks)
        print(f"built {args.tasks} open tasks in {time.perf_counter() - started:.1f}s", file=sys.stderr)

        idle = []
        for _ in range(7):
            started = time.perf_counter()
            result = escalation.escalate_overdue(services)
            idle.append((time.perf_counter() - started) * 1000)
            assert result.processed == 0, result
        make_due(services, args.due)
        started = time.perf_counter()
        result = escalation.escalate_overdue(services)
        due_s = time.perf_counter() - started
        assert result.processed == args.due, result
        assert len(result.actions) == args.due, result.actions[:3]
        print(f"idle_ms={statistics.median(idle):.1f}")
        print(f"due_s={due_s:.2f}")
        print(f"(median of 7 idle sweeps over {args.tasks} open tasks; {args.due} tasks escalated, "
              f"one transaction each; goals: idle < 50 ms, due < 10 s)", file=sys.stderr)


if __name__ == "__main__":
    main()
