"""Cost of the statistics table (engine/statistics.py) on PostgreSQL: a school and a whole bureau, now and as of a
past report date.

A bureau with 10 schools × 20 units and N hazards (default 100,000) spread over them, half closed, each with one
completed task and, when open, one open task (a fifth of them past due), inserted with INSERT ... SELECT
generate_series (no Python per row). The table is a few GROUP BY queries whose cost grows with the hazards in scope;
nothing is loaded per hazard into Python.

Prints `school_ms=<n>`, `bureau_ms=<n>`, `bureau_as_of_ms=<n>` (medians of 5).

Usage: python bench/statistics_query.py [--hazards N] [--pg-url URL]
"""
from __future__ import annotations

import argparse
import statistics as stats
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_services  # noqa: E402
from engine.infra.clock import FixedClock  # noqa: E402
from engine.infra.config import DEFAULT_BPMN_DIR  # noqa: E402
from engine.org import accounts
from engine.process.models import ProcessInstance  # noqa: E402
from engine.process.services import Services  # noqa: E402
from engine.reports import statistics  # noqa: E402

NOW = datetime(2026, 12, 31, 10, 0, tzinfo=timezone.utc)
START = datetime(2026, 9, 1, tzinfo=timezone.utc)
CATEGORIES = ("安防/治安", "消防", "交通", "食品卫生", "实训实验室", "危险化学品", "特种设备", "建筑与施工")
SOURCES = ("self_check", "joint_inspection", "supervision", "look_back", "patrol", "report")

# Each hazard's completed 登记评估 and, while open, its 落实整改 (a fifth of them past due at `now`).
TASKS_SQL = text("""
    INSERT INTO human_tasks (instance_id, hazard_id, spiff_task_id, bpmn_id, name, stage, state, priority,
        created_at, completed_at, due_at, escalation_step, escalation_level)
    SELECT :instance, h.id, 'r' || h.id, 'register_hazard', '登记评估', 'register', 'completed', 50,
        h.reported_at, h.reported_at + interval '1 hour', h.reported_at + interval '1 day', 0, 0
    FROM hazards h
    UNION ALL
    SELECT :instance, h.id, 'x' || h.id, 'rectify', '落实整改', 'rectify', 'ready', 50,
        h.reported_at + interval '1 hour', NULL,
        CASE WHEN h.id % 5 = 0 THEN h.reported_at + interval '2 days' ELSE :now + interval '30 days' END, 0, 0
    FROM hazards h WHERE h.closed_at IS NULL
""")


def insert_tasks(conn, instance_id: int, now: datetime) -> None:
    """The hazards' task rows in one INSERT ... SELECT (also bench/dashboard_hazards.py)."""
    conn.execute(TASKS_SQL, {"instance": instance_id, "now": now})


def build(services: Services, hazards: int) -> tuple[int, int]:
    """The org tree, one reporter and one instance; then the hazards and their tasks in two statements."""
    diagram = DEFAULT_BPMN_DIR / "hazard_rectification.bpmn"
    definition = services.deploy_definition(diagram.read_bytes(), diagram.name)
    with services.uow() as uow:
        s = uow.session
        bureau = accounts.add_org(s, "county", "某区教育局", "b")
        schools = [accounts.add_org(s, "school", f"学校{i}", f"b-{i}", bureau) for i in range(10)]
        units = [accounts.add_org(s, "unit", f"学校{i}单位{j}", f"b-{i}-{j}", school)
                 for i, school in enumerate(schools) for j in range(20)]
        user = accounts.add_user(s, "staff", "员工", "x", units[0], NOW, roles=[("department_staff", units[0])])
        instance = ProcessInstance(definition_id=definition.id, business_key="bench", status="running",
                                   state_json="{}", started_at=NOW, updated_at=NOW)
        s.add(instance)
        uow.commit()
        unit_ids, school_of = [u.id for u in units], {u.id: u.parent_id for u in units}
        ids = (bureau.id, schools[0].id, user.id, instance.id)
    engine = services.session_factory.kw["bind"]
    bureau_id, school_id, user_id, instance_id = ids
    span = (NOW - START).total_seconds()
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE bench_units (n int, unit_id int, school_id int)"))
        conn.execute(text("INSERT INTO bench_units VALUES (:n, :u, :s)"),
                     [{"n": n, "u": u, "s": school_of[u]} for n, u in enumerate(unit_ids)])
        conn.execute(text("""
            INSERT INTO hazards (school_id, unit_id, unit_serial, location, problem, category, grade, source, status,
                reported_by_id, reported_at, updated_at, closed_at)
            SELECT u.school_id, u.unit_id, g, '部位', '问题', (CAST(:cats AS text[]))[1 + g % 8],
                CASE WHEN g % 10 = 0 THEN NULL WHEN g % 7 = 0 THEN 'major' ELSE 'general' END,
                (CAST(:sources AS text[]))[1 + g % 6], CASE WHEN g % 2 = 0 THEN 'archive' ELSE 'rectify' END, :user,
                :start + (g * 7919 % 100000) * (:span / 100000.0) * interval '1 second', :now,
                CASE WHEN g % 2 = 0
                     THEN :start + (g * 7919 % 100000) * (:span / 100000.0) * interval '1 second' + interval '5 days'
                END
            FROM generate_series(1, :n) AS g JOIN bench_units u ON u.n = g % :units
        """), {"cats": list(CATEGORIES), "sources": list(SOURCES), "user": user_id, "start": START, "span": span,
               "now": NOW, "n": hazards, "units": len(unit_ids)})
        insert_tasks(conn, instance_id, NOW)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE hazards"))
        conn.execute(text("VACUUM ANALYZE human_tasks"))
    return bureau_id, school_id


def timed(services: Services, org_id: int, as_of: datetime) -> tuple[float, dict]:
    """Median milliseconds of five computations, and the figures."""
    times, figures = [], None
    query = statistics.Query(org_id=org_id, start=date(2026, 12, 1), end=date(2026, 12, 31), as_of=as_of)
    for _ in range(5):
        with services.uow() as uow:
            started = time.perf_counter()
            figures = statistics.compute(uow.session, query)
            times.append((time.perf_counter() - started) * 1000)
    return stats.median(times), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=100_000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    with scratch_services(args.pg_url, FixedClock(NOW)) as services:
        started = time.perf_counter()
        bureau_id, school_id = build(services, args.hazards)
        print(f"built {args.hazards} hazards in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        school_ms, school = timed(services, school_id, NOW)
        bureau_ms, bureau = timed(services, bureau_id, NOW)
        past_ms, past = timed(services, bureau_id, datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc))
        assert bureau["totals"]["total"] == args.hazards, bureau["totals"]
        assert school["totals"]["total"] == args.hazards // 10, school["totals"]
        assert 0 < past["totals"]["total"] < args.hazards, past["totals"]
        print(f"school_ms={school_ms:.0f}")
        print(f"bureau_ms={bureau_ms:.0f}")
        print(f"bureau_as_of_ms={past_ms:.0f}")
        print(f"(medians of 5; {args.hazards} hazards in 10 schools × 20 units; bureau totals {bureau['totals']})",
              file=sys.stderr)


if __name__ == "__main__":
    main()
