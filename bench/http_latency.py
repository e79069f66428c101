"""HTTP latency of the REST API (and the HTML pages) under gunicorn with 2 workers on PostgreSQL.

Creates a throwaway PostgreSQL database, seeds a school with a few hundred hazards, starts gunicorn, and prints
p50/p95 for: the inbox list, the task page (API and HTML), and completing a task. Run:

    .venv/bin/python bench/http_latency.py [--hazards 300] [--requests 200]

Needs PostgreSQL (RECTIFLOW_BENCH_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and the
`bench` extra (gunicorn).
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scratch import scratch_database  # noqa: E402
from engine.assembly import assemble  # noqa: E402
from engine.infra.clock import SystemClock  # noqa: E402
from engine.infra.config import DEFAULT_BPMN_DIR  # noqa: E402
from engine.infra.db import make_engine, make_session_factory  # noqa: E402
from engine.infra.schema import upgrade  # noqa: E402
from engine.org import (
    accounts,
    tokens,  # noqa: E402
)
from engine.process.models import HumanTask  # noqa: E402
from engine.rectification.hazards import report_hazard

PG_ADMIN_URL = os.environ.get("RECTIFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CATEGORIES = ("消防", "安防/治安", "实训实验室", "食品卫生", "交通")
PASSWORD = "bench-pass"


def seed(url: str, hazards: int) -> tuple[str, list[int], dict]:
    """A bureau, a school with five units and their staff, `hazards` reported hazards; returns a token and task ids."""
    upgrade(url)
    engine = make_engine(url)
    services = assemble(make_session_factory(engine), SystemClock(), DEFAULT_BPMN_DIR)
    services.deploy_directory()
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        bureau = accounts.add_org(s, "county", "某区教育局", "b")
        school = accounts.add_org(s, "school", "某职业学院", "b-s", bureau)
        units = [accounts.add_org(s, "unit", f"单位{i}", f"b-s-{i}", school) for i in range(5)]
        security = accounts.add_user(s, "security", "保卫处", PASSWORD, units[0], now,
                                     roles=[("security_office", school)])
        staff = [accounts.add_user(s, f"staff{i}", f"员工{i}", PASSWORD, unit, now,
                                   roles=[("department_staff", unit)]).id for i, unit in enumerate(units)]
        ids = {"security": security.id, "school": school.id, "units": [u.id for u in units]}
        uow.commit()
    for n in range(hazards):
        report_hazard(services, staff[n % len(staff)], {
            "location": f"教学楼{n}", "problem": f"隐患{n}", "category": CATEGORIES[n % len(CATEGORIES)],
            "source": "self_check", "checked_at": "2026-11-02"})
    _, token = tokens.create_token(services, ids["security"], "bench")
    with services.uow() as uow:
        task_ids = list(uow.session.scalars(select(HumanTask.id).where(
            HumanTask.state == "ready", HumanTask.bpmn_id == "register_hazard").order_by(HumanTask.id)))
    # A freshly loaded database has no planner statistics (autovacuum would gather them within minutes in
    # production); without them PostgreSQL guesses one row per table and picks nested loops.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    services.dispose()
    return token, task_ids, ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url: str, port: int, upload_dir: str) -> subprocess.Popen:
    """gunicorn with 2 sync workers serving create_app() on the bench database."""
    env = dict(os.environ, RECTIFLOW_DATABASE_URL=url, RECTIFLOW_SECRET_KEY="bench-" + uuid.uuid4().hex,
               RECTIFLOW_UPLOAD_DIR=upload_dir, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "web.app:create_app()"], cwd=str(REPO), env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            # Workers import and build the app after the socket is bound: connections may wait a while.
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=10).read()
            return process
        except OSError:  # refused, reset or timed out (URLError is an OSError too)
            if process.poll() is not None:
                raise SystemExit("gunicorn exited during start-up")
            time.sleep(0.2)
    stop(process)
    raise SystemExit("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn (its master stops the workers)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def timed(opener, request) -> float:
    """Milliseconds for one request, body read; fails loudly on an HTTP error."""
    started = time.perf_counter()
    with opener.open(request, timeout=30) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def login_opener(base: str):
    """A urllib opener holding a signed-in browser session (for the HTML pages)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{base}/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": "security", "password": PASSWORD, "csrf_token": csrf}).encode()
    opener.open(urllib.request.Request(f"{base}/login", data=form)).read()
    return opener


def report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    print(f"{label:<36} n={len(samples):<4} p50={statistics.median(ordered):7.1f} ms  p95={p95:7.1f} ms  "
          f"mean={statistics.fmean(ordered):7.1f} ms")


def measure(base: str, token: str, task_ids: list[int], ids: dict, requests: int) -> None:
    api = urllib.request.build_opener()
    auth = {"Authorization": f"Bearer {token}"}
    get = lambda path: urllib.request.Request(base + path, headers=auth)  # noqa: E731
    for _ in range(10):  # warm both workers: imports, connection pools, cached specs
        timed(api, get("/api/v1/tasks?view=groups&per_page=25"))
        timed(api, get(f"/api/v1/tasks/{task_ids[-1]}"))
    report("GET /api/v1/tasks (inbox, 25/page)",
           [timed(api, get("/api/v1/tasks?view=groups&per_page=25")) for _ in range(requests)])
    report("GET /api/v1/tasks?category=消防",
           [timed(api, get("/api/v1/tasks?view=groups&per_page=25&category=" + urllib.parse.quote("消防")))
            for _ in range(requests)])
    report("GET /api/v1/tasks/<id> (task page)",
           [timed(api, get(f"/api/v1/tasks/{task_ids[i % len(task_ids)]}")) for i in range(requests)])
    try:
        browser = login_opener(base)
    except (urllib.error.URLError, AttributeError) as exc:
        print(f"(HTML pages skipped: cannot sign in: {exc})")
    else:
        report("GET /inbox (HTML)", [timed(browser, base + "/inbox?view=groups") for _ in range(requests)])
        report("GET /tasks/<id> (HTML task page)",
               [timed(browser, f"{base}/tasks/{task_ids[i % len(task_ids)]}") for i in range(requests)])
    body = json.dumps({"data": {"grade": "general", "responsible_unit_id": ids["units"][1],
                                "responsible_person": "负责人", "deadline": "2026-12-01"}}).encode()
    completes = []
    for task_id in task_ids[:requests]:
        request = urllib.request.Request(f"{base}/api/v1/tasks/{task_id}/complete", data=body, method="POST",
                                         headers={**auth, "Content-Type": "application/json"})
        completes.append(timed(api, request))
    report("POST /api/v1/tasks/<id>/complete", completes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=300, help="hazards to seed (each opens one task)")
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    args = parser.parse_args()
    requests = min(args.requests, args.hazards)
    with scratch_database(PG_ADMIN_URL) as url:
        started = time.perf_counter()
        token, task_ids, ids = seed(url, args.hazards)
        print(f"seeded {args.hazards} hazards on PostgreSQL in {time.perf_counter() - started:.1f} s")
        port = free_port()
        with tempfile.TemporaryDirectory() as uploads:
            process = start_gunicorn(url, port, uploads)
            try:
                print(f"gunicorn: 2 sync workers on 127.0.0.1:{port}; {requests} requests each, one client")
                measure(f"http://127.0.0.1:{port}", token, task_ids, ids, requests)
            finally:
                stop(process)  # before the database is dropped


if __name__ == "__main__":
    main()
