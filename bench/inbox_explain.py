"""Is a province-level user's inbox still indexed on a province-sized database? EXPLAIN ANALYZE of what it runs.

Runs on a PostgreSQL database that `bench/org_import.py` filled (a province of SCHOOLS schools and their people).
Adds TASKS open tasks spread over every unit (department_staff), a share at the bureaus, cities and the province
(supervisor), a province supervisor, then captures every statement the inbox's verbs send for that supervisor
(engine.rectification.inbox.inbox for each view, engine.process.tasklist.inbox_counts) and prints each one's
EXPLAIN (ANALYZE, BUFFERS) plan, its time, and whether any of them reads human_tasks or task_candidates by a
sequential scan. Prints the load average before and after.

    .venv/bin/python bench/org_import.py --database-url URL            # once: the province
    .venv/bin/python bench/inbox_explain.py --database-url URL [--tasks 500000]

There is no default database (the tests' `test` database is refused).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from sqlalchemy import event, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.infra.config import Settings  # noqa: E402
from engine.infra.schema import upgrade  # noqa: E402
from engine.org import accounts  # noqa: E402
from engine.org.models import OrgNode, User  # noqa: E402
from engine.process.models import HumanTask  # noqa: E402
from engine.process.tasklist import INBOX_VIEWS, inbox_counts  # noqa: E402
from engine.rectification.inbox import inbox  # noqa: E402
from web.composition import build_services  # noqa: E402

# A sequential read of the tasks that actually ran (an empty table's or an unexecuted branch's do not count).
SEQ = re.compile(r"Seq Scan on human_tasks\b(?!.*never executed)")


def seed_tasks(s, wanted: int) -> None:
    """Open tasks in bulk (one INSERT … SELECT each, hash joins): 99% at units for their staff, 1% at the bureaus,
    cities and the province for their supervisors."""
    have = s.scalar(select(func.count()).select_from(HumanTask))
    if have >= wanted:
        print(f"tasks: {have:,} already there")
        return
    definition = s.execute(text("SELECT id FROM process_definitions ORDER BY id LIMIT 1")).scalar()
    if definition is None:
        s.execute(text("INSERT INTO deployments (deployed_at, summary, replace, role_map) "
                       "VALUES (now(), 'bench', false, '{}') RETURNING id"))
        definition = s.execute(text(
            "INSERT INTO process_definitions (key, name, version, sha256, source_xml, spec_json, forms, task_meta, "
            "deployed_at, replaced) VALUES ('bench', 'bench', 1, repeat('0', 64), '', '{}', '{}', '{}', now(), "
            "false) RETURNING id")).scalar()
    n = wanted - have
    start = time.perf_counter()
    s.execute(text(
        "INSERT INTO process_instances (definition_id, status, state_json, started_at, updated_at, revision) "
        "SELECT :d, 'running', '{}', now(), now(), 1 FROM generate_series(1, :n)"), {"d": definition, "n": n})
    # Each new instance gets one task; the candidate org cycles through the units (and 1 in 100 the upper levels).
    s.execute(text("""
        WITH targets AS (SELECT id, kind, row_number() OVER (PARTITION BY kind = 'unit' ORDER BY id) - 1 AS k
                         FROM org_nodes WHERE kind IN ('unit', 'province', 'city', 'county')),
             sizes AS (SELECT count(*) FILTER (WHERE kind = 'unit') AS nu,
                              count(*) FILTER (WHERE kind <> 'unit') AS nb FROM targets),
             fresh AS (SELECT p.id, row_number() OVER (ORDER BY p.id) AS k FROM process_instances p
                       WHERE NOT EXISTS (SELECT 1 FROM human_tasks t WHERE t.instance_id = p.id)),
             picked AS (SELECT f.id, f.k, f.k % 100 = 0 AS upper,
                               CASE WHEN f.k % 100 = 0 THEN f.k % sizes.nb ELSE f.k % sizes.nu END AS slot
                        FROM fresh f, sizes)
        INSERT INTO human_tasks (instance_id, spiff_task_id, bpmn_id, name, candidate_role, candidate_org_id,
                                 priority, state, created_at, due_at, escalation_step, escalation_level)
        SELECT p.id, md5(p.id::text), 'bench_task', '基准任务',
               CASE WHEN p.upper THEN 'supervisor' ELSE 'department_staff' END, t.id,
               50, 'ready', now(), now() + (p.k % 30) * interval '1 day', 0, 0
        FROM picked p JOIN targets t ON (t.kind <> 'unit') = p.upper AND t.k = p.slot"""))
    s.execute(text("ANALYZE human_tasks"))
    s.execute(text("ANALYZE task_candidates"))
    s.execute(text("ANALYZE org_nodes"))
    print(f"tasks: {n:,} added in {time.perf_counter() - start:.1f} s")


def province_supervisor(s, now) -> User:
    user = s.scalars(select(User).where(User.username == "bench_province")).first()
    if user is not None:
        return user
    province = s.scalars(select(OrgNode).where(OrgNode.kind == "province").order_by(OrgNode.id)).first()
    return accounts.add_user(s, "bench_province", "省督导", "Bench-pass-2026", province, now,
                             roles=[("supervisor", province)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("RECTIFLOW_BENCH_DATABASE_URL"), required=False)
    parser.add_argument("--tasks", type=int, default=500_000)
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error("give --database-url of a PostgreSQL database filled by bench/org_import.py")
    if args.database_url.rstrip("/").endswith("/test"):
        parser.error("the tests' `test` database is not for benchmarks")
    print(f"load average before: {os.getloadavg()}")
    upgrade(args.database_url)
    services = build_services(Settings(database_url=args.database_url))
    now = services.clock.now()
    with services.uow() as uow:
        s = uow.session
        orgs = s.scalar(select(func.count()).select_from(OrgNode))
        people = s.scalar(select(func.count()).select_from(User))
        print(f"database: {orgs:,} organisations, {people:,} people")
        seed_tasks(s, args.tasks)
        user = province_supervisor(s, now)
        uow.commit()
        user_id = user.id

    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "human_tasks" in statement and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    engine = services.session_factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", capture)
    with services.uow() as uow:
        s = uow.session
        user = s.get(User, user_id)
        for view in INBOX_VIEWS:
            page = inbox(s, user, view, now, per_page=50)
            print(f"inbox {view}: {page.total:,} tasks, first page {len(page.items)}")
        print(f"inbox counts: {inbox_counts(s, user, now)}")
    event.remove(engine, "before_cursor_execute", capture)

    sequential, slowest = 0, 0.0
    with engine.connect() as conn:
        for number, (statement, parameters) in enumerate(captured, start=1):
            plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
            hits = [line.strip() for line in plan if SEQ.search(line)]
            sequential += len(hits)
            took = float(re.search(r"Execution Time: ([0-9.]+) ms", plan[-1]).group(1))
            slowest = max(slowest, took)
            print(f"\n-- statement {number}: {' '.join(statement.split())[:160]}…")
            print("\n".join(plan))
    print(f"\n{len(captured)} statements on human_tasks; sequential scans of human_tasks: {sequential}; "
          f"slowest {slowest:.1f} ms")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
