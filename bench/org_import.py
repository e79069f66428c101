"""Onboarding at a province's scale: import SCHOOLS schools × UNITS units × USERS people per unit, with a progress bar.

Generates the org file and the roster in memory (the layouts of `rectiflow org import` / `user import`), imports
them through engine.admin.imports (the same verb the page, the API and the CLI call) into a fresh database, and
prints rows/s for each file, the peak memory of this process and the load average before and after. People are
imported without initial passwords (as `rectiflow user import` without --credentials): one scrypt hash per person
would dominate (about 50 ms each) and is reported separately from a sample of 100.

    .venv/bin/python bench/org_import.py [--schools 2000] [--units 30] [--users 20] [--database-url URL]

The default database is a temporary SQLite file; give --database-url for PostgreSQL (never the tests' `test`
database: the script refuses it).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.admin import imports  # noqa: E402
from engine.infra.db import make_engine, make_session_factory  # noqa: E402
from engine.infra.schema import upgrade  # noqa: E402
from engine.org.accounts import hash_password  # noqa: E402
from engine.infra.clock import SystemClock  # noqa: E402


def org_rows(schools: int, units: int) -> list[tuple[int, dict]]:
    rows = [{"上级代码": "", "代码": "p", "名称": "某省教育厅", "简称": "", "类型": "省"}]
    cities = max(1, schools // 200)
    for c in range(cities):
        rows.append({"上级代码": "p", "代码": f"p-c{c}", "名称": f"第{c}市教育局", "简称": "", "类型": "市"})
        for b in range(5):
            rows.append({"上级代码": f"p-c{c}", "代码": f"p-c{c}-b{b}", "名称": f"第{c}市第{b}区教育局",
                         "简称": "", "类型": "区县"})
    for n in range(schools):
        bureau = f"p-c{n % cities}-b{n % 5}"
        rows.append({"上级代码": bureau, "代码": f"s{n}", "名称": f"第{n}学校", "简称": f"{n}校", "类型": "学校"})
        for u in range(units):
            rows.append({"上级代码": f"s{n}", "代码": f"s{n}-u{u}", "名称": f"第{n}学校第{u}单位", "简称": "",
                         "类型": "二级学院" if u % 3 else "机关处室"})
    return list(enumerate(rows, start=2))


def roster_rows(schools: int, units: int, users: int) -> list[tuple[int, dict]]:
    rows = []
    for n in range(schools):
        for u in range(units):
            for p in range(users):
                role = "部门负责人" if p == 0 else ("保卫处" if u == 0 and p == 1 else "部门工作人员")
                rows.append({"姓名": f"人{n}-{u}-{p}", "工号": f"E{n}-{u}-{p}", "手机": "", "邮箱": "",
                             "单位": f"s{n}-u{u}", "角色": role})
    return list(enumerate(rows, start=2))


def timed_import(factory, label: str, verb, rows) -> float:
    bar = click.progressbar(length=len(rows), label=label, file=sys.stderr)
    done = {"n": 0}

    def tick(n: int, total: int) -> None:
        bar.update(n - done["n"])
        done["n"] = n

    start = time.perf_counter()
    with bar:
        with factory() as session:
            verb(session, None, SystemClock().now(), rows, tick)
            session.commit()
    seconds = time.perf_counter() - start
    print(f"{label}: {len(rows)} rows in {seconds:.1f} s = {len(rows) / seconds:,.0f} rows/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=2000)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("RECTIFLOW_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/org_import.sqlite3"
    if url.rstrip("/").endswith("/test"):
        raise SystemExit("refusing the tests' `test` database; give a scratch one")
    print(f"database: {url.split('@')[-1]}; {args.schools} schools × {args.units} units × {args.users} people")
    print(f"load average before: {os.getloadavg()}")
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    orgs = org_rows(args.schools, args.units)
    timed_import(factory, "organisations", imports.import_orgs, orgs)
    people = roster_rows(args.schools, args.units, args.users)
    timed_import(factory, "people (no initial passwords)", lambda s, a, now, rows, tick: imports.import_roster(
        s, a, now, rows, tick, passwords=False), people)
    start = time.perf_counter()
    for _ in range(100):
        hash_password("initial-password")
    per_hash = (time.perf_counter() - start) / 100
    print(f"initial passwords would add {per_hash * 1000:.0f} ms per person "
          f"({per_hash * len(people) / 60:.0f} min for this roster)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"load average after: {os.getloadavg()}")
    engine.dispose()


if __name__ == "__main__":
    main()
