"""p50/p95 of the 驾驶舱 (dashboard) and the 隐患查询 list for a school leader and for a city, on PostgreSQL.

Builds a city with counties, S schools (default 200) × U units (default 10) and N hazards (default 100,000) spread
over the units, half closed, each with one completed task and, when open, one open task (a fifth of them past due),
inserted with INSERT ... SELECT generate_series (no Python per row), then ANALYZE. The issue's scale is
`--schools 2000 --hazards 1000000`.

Measured, in the engine (no HTTP; what the pages and the API call, one session each):
  * `dashboard`: engine.reports.dashboard.dashboard (statistics table + twelve-month trend);
  * `list`: engine.rectification.visibility.list_hazards, page 1 of 50 with its total (newest first);
  * `overdue`: the same list with the 逾期 filter (what a dashboard figure opens).
Each round runs the six (school, city) × (dashboard, list, overdue) measurements in a rotating order, so both sides
see the same machine load; the load average is printed before and after. Prints `school_dashboard_p95_ms=<n>` etc.

Usage: python bench/dashboard_hazards.py [--schools S] [--units U] [--hazards N] [--rounds R] [--pg-url URL]
(a scratch database is created from --pg-url's server and dropped afterwards; the `test` database is not used).
"""
from __future__ import annotations

import argparse
import os
import statistics as stats
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_services  # noqa: E402
from bench.statistics_query import insert_tasks  # noqa: E402
from engine.infra.clock import FixedClock  # noqa: E402
from engine.infra.config import DEFAULT_BPMN_DIR  # noqa: E402
from engine.org import accounts  # noqa: E402
from engine.org.models import OrgNode, User  # noqa: E402
from engine.process.models import ProcessInstance  # noqa: E402
from engine.process.services import Services  # noqa: E402
from engine.rectification.visibility import list_hazards  # noqa: E402
from engine.reports.dashboard import dashboard  # noqa: E402

NOW = datetime(2026, 12, 31, 10, 0, tzinfo=timezone.utc)
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
CATEGORIES = ("安防/治安", "消防", "交通", "食品卫生", "实训实验室", "危险化学品", "特种设备", "建筑与施工")
SOURCES = ("self_check", "joint_inspection", "supervision", "look_back", "patrol", "report")
COUNTIES = 20


def build(services: Services, schools: int, units: int, hazards: int) -> dict:
    """The org tree (schools and units in set-based INSERTs), a leader and a supervisor, the hazards and tasks."""
    diagram = DEFAULT_BPMN_DIR / "hazard_rectification.bpmn"
    definition = services.deploy_definition(diagram.read_bytes(), diagram.name)
    with services.uow() as uow:
        s = uow.session
        city = accounts.add_org(s, "city", "某市教育局", "c")
        counties = [accounts.add_org(s, "county", f"区县{i}", f"c-{i}", city) for i in range(COUNTIES)]
        uow.commit()
        county_ids = [c.id for c in counties]
        city_id = city.id
    engine = services.session_factory.kw["bind"]
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO org_nodes (parent_id, kind, name, code, active, path)
            SELECT (CAST(:counties AS int[]))[1 + g % :nc], 'school', '学校' || g, 's-' || g, true, '/'
            FROM generate_series(0, :n - 1) AS g"""), {"counties": county_ids, "nc": COUNTIES, "n": schools})
        conn.execute(text("""
            UPDATE org_nodes o SET path = p.path || o.id || '/' FROM org_nodes p
            WHERE o.parent_id = p.id AND o.kind = 'school'"""))
        conn.execute(text("""
            INSERT INTO org_nodes (parent_id, kind, name, code, active, unit_type, path)
            SELECT s.id, 'unit', s.name || '单位' || g, s.code || '-' || g, true, 'college', '/'
            FROM org_nodes s CROSS JOIN generate_series(0, :u - 1) AS g WHERE s.kind = 'school'"""), {"u": units})
        conn.execute(text("""
            UPDATE org_nodes o SET path = p.path || o.id || '/' FROM org_nodes p
            WHERE o.parent_id = p.id AND o.kind = 'unit'"""))
        conn.execute(text("""
            CREATE TEMP TABLE bench_units AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS n, id AS unit_id, parent_id AS school_id
            FROM org_nodes WHERE kind = 'unit'"""))
        first_school = conn.scalar(text("SELECT min(school_id) FROM bench_units"))
    with services.uow() as uow:
        s = uow.session
        school, city = s.get(OrgNode, first_school), s.get(OrgNode, city_id)
        reporter = accounts.add_user(s, "reporter", "上报人", "x", school, NOW, roles=[("department_staff", school)])
        leader = accounts.add_user(s, "leader", "校领导", "x", school, NOW, roles=[("leader", school)])
        supervisor = accounts.add_user(s, "city", "市督导", "x", city, NOW, roles=[("supervisor", city)])
        instance = ProcessInstance(definition_id=definition.id, business_key="bench", status="running",
                                   state_json="{}", started_at=NOW, updated_at=NOW)
        s.add(instance)
        uow.commit()
        ids = {"school": school.id, "city": city.id, "leader": leader.id, "supervisor": supervisor.id,
               "reporter": reporter.id, "instance": instance.id}
    span = (NOW - START).total_seconds()
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO hazards (school_id, unit_id, unit_serial, location, problem, category, grade, source, status,
                reported_by_id, reported_at, updated_at, closed_at, repeat_count)
            SELECT u.school_id, u.unit_id, g, '部位' || g, '问题' || g, (CAST(:cats AS text[]))[1 + g % 8],
                CASE WHEN g % 10 = 0 THEN NULL WHEN g % 7 = 0 THEN 'major' ELSE 'general' END,
                (CAST(:sources AS text[]))[1 + g % 6], CASE WHEN g % 2 = 0 THEN 'archive' ELSE 'rectify' END, :user,
                :start + (CAST(g AS bigint) * 7919 % 100000) * (:span / 100000.0) * interval '1 second', :now,
                CASE WHEN g % 2 = 0
                     THEN :start + (CAST(g AS bigint) * 7919 % 100000) * (:span / 100000.0) * interval '1 second' + interval '5 days'
                END, 0
            FROM generate_series(1, :n) AS g JOIN bench_units u ON u.n = g % :units
        """), {"cats": list(CATEGORIES), "sources": list(SOURCES), "user": ids["reporter"], "start": START,
               "span": span, "now": NOW, "n": hazards, "units": schools * units})
        insert_tasks(conn, ids["instance"], NOW)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("org_nodes", "hazards", "human_tasks"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    return ids


def measure(services: Services, user_id: int, org_id: int, what: str) -> tuple[float, int]:
    """Milliseconds of one call in its own session, and a figure to check it did the work."""
    with services.uow() as uow:
        s = uow.session
        user = s.get(User, user_id)
        started = time.perf_counter()
        if what == "dashboard":
            figure = dashboard(s, user, NOW, org_id=org_id)["kpis"]["total"]
        else:
            page = list_hazards(s, user, page=1, per_page=50, overdue_at=NOW if what == "overdue" else None)
            assert len(page.items) == min(50, page.total), (what, len(page.items), page.total)
            figure = page.total
        return (time.perf_counter() - started) * 1000, figure


def p95(values: list[float]) -> float:
    return stats.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--units", type=int, default=10)
    parser.add_argument("--hazards", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pg-url", default=os.environ.get("RECTIFLOW_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    with scratch_services(args.pg_url, FixedClock(NOW)) as services:
        started = time.perf_counter()
        ids = build(services, args.schools, args.units, args.hazards)
        print(f"built {args.schools} schools × {args.units} units, {args.hazards} hazards in "
              f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
        print(f"loadavg_before={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        sides = {"school": (ids["leader"], ids["school"]), "city": (ids["supervisor"], ids["city"])}
        cases = [(side, what) for side in sides for what in ("dashboard", "list", "overdue")]
        times: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
        totals: dict[tuple[str, str], int] = {}
        for case in cases:  # one warm-up call each (plans and caches), not counted
            measure(services, *sides[case[0]], case[1])
        for n in range(args.rounds):
            for case in cases[n % len(cases):] + cases[:n % len(cases)]:
                ms, totals[case] = measure(services, *sides[case[0]], case[1])
                times[case].append(ms)
        print(f"loadavg_after={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        per_school = args.hazards // args.schools
        assert totals[("city", "dashboard")] == args.hazards, totals
        assert abs(totals[("school", "dashboard")] - per_school) <= args.units, totals
        for (side, what), values in times.items():
            print(f"{side}_{what}_p50_ms={stats.median(values):.0f} {side}_{what}_p95_ms={p95(values):.0f} "
                  f"(total {totals[(side, what)]})")
        print(f"({args.rounds} rounds; goal: school p95 < 150 ms, city p95 < 500 ms)", file=sys.stderr)


if __name__ == "__main__":
    main()
