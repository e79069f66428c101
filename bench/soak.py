"""Soak: mixed users over HTTP against gunicorn (4 workers) and the scheduler, on PostgreSQL, for --minutes.

Creates a throwaway PostgreSQL database beside the maintenance database (never the tests' `test`), builds the
demo school in it (`rectiflow demo` data: units, a user for every role, hazards in every state, a campaign,
recurring inspections), starts gunicorn with 4 sync workers and `rectiflow scheduler`, and drives, over the
REST API with each demo user's token:

- reporters (staff_jd, staff_hq, grid_hq) posting hazards, unit staff uploading a photo before they rectify;
- the security office registering (some major, some fixed on the spot), accepting (some sent back) and closing;
  unit heads planning and explaining overdue work, unit staff rectifying, the bureau reviewing major reports and
  the leader approving closure: each takes a task from its inbox (`mine`, then `groups`), claims it half of the
  time, and completes it;
- a signed-in browser (the leader) opening the HTML inbox, the ledger and a recent hazard's page;
- races: every few seconds 2 claims and 4 completions of one task fired at once (expected: at most one
  completion succeeds, the others answer 409);
- every 20 s a few open tasks are made overdue in the database, so the scheduler's escalation sweep works on the
  rows the users are completing.

Then it prints, besides request counts and latencies: server errors (5xx count, the first bodies), deadlocks
(pg_stat_database.deadlocks of the scratch database, plus "deadlock detected" in the gunicorn and scheduler logs
and in responses), lost or duplicated steps (each completion the API acknowledged has exactly one TaskCompleted
event; no task has two), worker RSS at start/middle/end, and the load average. Exit status 0 when all of those
are clean (memory: no worker grows more than 25% and 30 MiB from the middle to the end), else 1.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/soak.py [--minutes 15] [--clients-per-role 1]

Needs PostgreSQL (--pg-url / RECTIFLOW_BENCH_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
and gunicorn (the `bench` extra).
"""
from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scratch import DEFAULT_ADMIN_URL, scratch_database  # noqa: E402
from engine.assembly import assemble  # noqa: E402
from engine.demo import DEMO_PASSWORD, build_demo  # noqa: E402
from engine.infra.clock import SystemClock  # noqa: E402
from engine.infra.config import DEFAULT_BPMN_DIR  # noqa: E402
from engine.infra.db import make_engine, make_session_factory  # noqa: E402
from engine.infra.schema import upgrade  # noqa: E402
from engine.infra.timezone import CHINA  # noqa: E402
from engine.org import tokens  # noqa: E402
from engine.org.models import OrgNode, User  # noqa: E402
from engine.process.models import Event, OutboxMessage  # noqa: E402
from engine.rectification.models import Attachment  # noqa: E402

PG_ADMIN_URL = os.environ.get("RECTIFLOW_BENCH_PG_URL", DEFAULT_ADMIN_URL)
CATEGORIES = ("安防/治安", "消防", "交通", "食品卫生")
REPORTERS = ("staff_jd", "staff_hq", "grid_hq")
# Which demo users work which user tasks of hazard_rectification.bpmn.
WORKERS = {
    "security": ("register_hazard", "accept_rectification", "close_hazard"),
    "security2": ("register_hazard", "accept_rectification", "close_hazard"),
    "head_jd": ("rectification_plan", "explain_overdue"),
    "head_hq": ("rectification_plan", "explain_overdue"),
    "staff_jd": ("rectify", "onsite_fix"),
    "staff_jd2": ("rectify", "onsite_fix"),
    "staff_hq": ("rectify", "onsite_fix"),
    "grid_hq": ("rectify", "onsite_fix"),
    "bureau": ("review_major_report",),
    "leader": ("approve_closure",),
}
RACERS = ("security", "security2")
DEADLOCK = re.compile(r"deadlock detected|DeadlockDetected", re.IGNORECASE)


def china_day(days: int = 0) -> str:
    return (datetime.now(CHINA) + timedelta(days=days)).date().isoformat()


def answer(bpmn_id: str, rnd: random.Random, units: list[int]) -> dict:
    """Form data a user would submit for a task of the hazard process."""
    if bpmn_id == "register_hazard":
        return {"grade": "major" if rnd.random() < 0.2 else "general", "responsible_unit_id": rnd.choice(units),
                "responsible_person": "负责人", "deadline": china_day(7), "onsite_fix": rnd.random() < 0.3}
    if bpmn_id == "review_major_report":
        return {"guidance": "立即设置警示标志"}
    if bpmn_id == "rectification_plan":
        return {"plan_owner": "负责人", "plan_measures": "更换设备", "plan_deadline": china_day(7),
                "plan_contingency": "暂停使用", "plan_funds": "1000元"}
    if bpmn_id in ("rectify", "onsite_fix"):
        return {"measures": "已整改", "completion": "已完成"}
    if bpmn_id == "accept_rectification":
        if rnd.random() < 0.15:
            return {"accepted": False, "reason": "整改不到位", "opinion": "退回"}
        return {"accepted": True, "opinion": "合格"}
    if bpmn_id == "close_hazard":
        return {"closing_note": "同意销号"}
    if bpmn_id == "approve_closure":
        return {"approved": True}
    if bpmn_id == "explain_overdue":
        return {"reason": "配件未到货", "new_measures": "已催货"}
    raise KeyError(bpmn_id)


def seed(url: str) -> dict:
    """The demo school on a migrated database; a token for every user this bench drives."""
    upgrade(url)
    engine = make_engine(url)
    services = assemble(make_session_factory(engine), SystemClock(), DEFAULT_BPMN_DIR)
    services.deploy_directory()
    build_demo(services)
    with services.uow() as uow:
        s = uow.session
        ids = {u.username: u.id for u in s.scalars(select(User))}
        units = [s.scalars(select(OrgNode.id).where(OrgNode.name == name)).one() for name in ("机电工程学院", "后勤管理处")]
    names = set(WORKERS) | set(REPORTERS) | set(RACERS)
    user_tokens = {name: tokens.create_token(services, ids[name], "soak")[1] for name in names}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    services.dispose()
    return {"tokens": user_tokens, "ids": ids, "units": units}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(url: str, uploads: str) -> dict:
    return dict(os.environ, RECTIFLOW_DATABASE_URL=url, RECTIFLOW_SECRET_KEY="soak-" + uuid.uuid4().hex,
                RECTIFLOW_UPLOAD_DIR=uploads, PYTHONPATH=str(REPO))


def start_gunicorn(url: str, port: int, uploads: str, workers: int, log: Path) -> subprocess.Popen:
    """gunicorn with `workers` sync workers serving create_app(); its error log (and the app's) go to `log`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "--error-logfile", str(log), "--capture-output", "web.app:create_app()"],
        cwd=str(REPO), env=app_env(url, uploads))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=10).read()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited during start-up; see {log}")
            time.sleep(0.3)
    stop(process)
    raise SystemExit("gunicorn did not answer within 90 s")


def start_scheduler(url: str, uploads: str, log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    return subprocess.Popen([sys.executable, "-c", "from web.cli.main import main; main()", "scheduler"],
                            cwd=str(REPO), env=app_env(url, uploads), stdout=handle, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int | None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def children(pid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Stats:
    """Everything the clients saw, shared between their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.server_errors: list[tuple[str, int, str]] = []
        self.transport_errors: list[tuple[str, str]] = []
        self.deadlocks_in_responses = 0
        self.acknowledged: list[int] = []  # task ids whose completion answered 2xx
        self.races = Counter()

    def record(self, label: str, status: int, ms: float, body: str) -> None:
        with self.lock:
            self.latency[label].append(ms)
            self.statuses[label][status] += 1
            if status >= 500:
                self.server_errors.append((label, status, body[:300]))
            if DEADLOCK.search(body or ""):
                self.deadlocks_in_responses += 1

    def transport(self, label: str, exc: Exception) -> None:
        with self.lock:
            self.transport_errors.append((label, f"{type(exc).__name__}: {exc}"))


class Api:
    """JSON calls with one user's bearer token."""

    def __init__(self, base: str, token: str, stats: Stats):
        self.base, self.token, self.stats = base, token, stats

    def call(self, method: str, path: str, label: str, body: dict | None = None,
             upload: tuple[str, bytes] | None = None) -> tuple[int | None, object]:
        """One request (a JSON body, or `upload` = (filename, bytes) as a multipart `file`); (status, JSON)."""
        content_type, data = "application/json", json.dumps(body).encode() if body is not None else None
        if upload is not None:
            boundary = uuid.uuid4().hex
            content_type = f"multipart/form-data; boundary={boundary}"
            data = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{upload[0]}"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n").encode() + upload[1] + (
                f"\r\n--{boundary}--\r\n").encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": content_type})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as exc:  # reset, refused, timed out: a worker died?
            self.stats.transport(label, exc)
            return None, None
        self.stats.record(label, status, (time.perf_counter() - started) * 1000, raw)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


def inbox(api: Api, wanted: tuple[str, ...], rnd: random.Random) -> dict | None:
    """A task this user works, from `mine` first, then `groups` (one of the first few, so users spread out)."""
    for view in ("mine", "groups"):
        status, page = api.call("GET", f"/api/v1/tasks?view={view}&per_page=25", f"GET /tasks?view={view}")
        if status != 200 or not page:
            continue
        items = [t for t in page["items"] if t["bpmn_id"] in wanted]
        if items:
            return rnd.choice(items[:5])
    return None


def work(api: Api, stats: Stats, wanted: tuple[str, ...], units: list[int], stop_at: float, seed_: int,
         reporter: bool) -> None:
    rnd = random.Random(seed_)
    last_report = 0.0
    while time.monotonic() < stop_at:
        if reporter and time.monotonic() - last_report > 2.0:
            last_report = time.monotonic()
            api.call("POST", "/api/v1/hazards", "POST /hazards", {
                "location": f"教学楼{rnd.randint(1, 20)}-{rnd.randint(100, 599)}", "problem": "灭火器压力不足",
                "category": rnd.choice(CATEGORIES), "source": "self_check", "checked_at": china_day()})
        task = inbox(api, wanted, rnd)
        if task is None:
            time.sleep(0.5)
            continue
        if task["assignee_id"] is None and rnd.random() < 0.5:
            status, _ = api.call("POST", f"/api/v1/tasks/{task['id']}/claim", "POST /tasks/<id>/claim")
            if status != 200:
                continue
        if task["bpmn_id"] in ("rectify", "onsite_fix") and task["hazard_id"]:  # a photo of the work, as evidence
            photo = b"\x89PNG\r\n\x1a\n" + rnd.randbytes(2048)
            api.call("POST", f"/api/v1/hazards/{task['hazard_id']}/attachments?task_id={task['id']}",
                     "POST /hazards/<id>/attachments", upload=("整改照片.png", photo))
        status, _ = api.call("POST", f"/api/v1/tasks/{task['id']}/complete", "POST /tasks/<id>/complete",
                             {"data": answer(task["bpmn_id"], rnd, units)})
        if status == 200:
            with stats.lock:
                stats.acknowledged.append(task["id"])


def race(apis: dict[str, Api], stats: Stats, units: list[int], stop_at: float) -> None:
    """2 claims and 4 completions of one registration task at once; at most one completion may succeed."""
    rnd = random.Random(7)
    while time.monotonic() < stop_at:
        time.sleep(3)
        task = inbox(apis["security"], ("register_hazard",), rnd)
        if task is None:
            continue
        results: list[tuple[str, int | None]] = []
        barrier = threading.Barrier(6)

        def fire(kind: str, who: str) -> None:
            barrier.wait()
            path = f"/api/v1/tasks/{task['id']}/{kind}"
            body = {"data": answer("register_hazard", random.Random(), units)} if kind == "complete" else None
            status, _ = apis[who].call("POST", path, f"race POST /tasks/<id>/{kind}", body)
            results.append((kind, status))

        plan = [("claim", "security"), ("claim", "security2")] + [("complete", RACERS[i % 2]) for i in range(4)]
        threads = [threading.Thread(target=fire, args=p) for p in plan]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wins = sum(1 for kind, status in results if kind == "complete" and status == 200)
        with stats.lock:
            stats.races["rounds"] += 1
            stats.races[f"{wins} completion(s) succeeded"] += 1
            stats.acknowledged.extend([task["id"]] * wins)


def browse(base: str, leader_token: str, stats: Stats, stop_at: float) -> None:
    """The leader in a browser: the HTML inbox, the ledger and a recent hazard's page, once a second."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        page = opener.open(f"{base}/login", timeout=30).read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": "leader", "password": DEMO_PASSWORD, "csrf_token": csrf}).encode()
        opener.open(urllib.request.Request(f"{base}/login", data=form), timeout=30).read()
    except (OSError, AttributeError) as exc:
        stats.transport("browser sign-in", exc)
        return
    api = Api(base, leader_token, stats)
    while time.monotonic() < stop_at:
        pages = [("/inbox?view=groups", "GET /inbox (HTML)"), ("/ledger", "GET /ledger (HTML)")]
        status, recent = api.call("GET", "/api/v1/hazards?per_page=5", "GET /hazards")
        if status == 200 and recent and recent["items"]:
            pages.append((f"/hazards/{random.choice(recent['items'])['id']}", "GET /hazards/<id> (HTML)"))
        for path, label in pages:
            started = time.perf_counter()
            try:
                with opener.open(base + path, timeout=60) as response:
                    status, raw = response.status, response.read().decode(errors="replace")
            except urllib.error.HTTPError as exc:
                status, raw = exc.code, exc.read().decode(errors="replace")
            except (OSError, http.client.HTTPException) as exc:
                stats.transport(label, exc)
                continue
            stats.record(label, status, (time.perf_counter() - started) * 1000, raw)
        time.sleep(1)


def make_overdue(engine, stop_at: float, every: float, made: Counter) -> None:
    """Every `every` seconds, a few open tasks fall overdue, so the escalation sweep races the users on them."""
    while time.monotonic() < stop_at:
        time.sleep(every)
        with engine.begin() as conn:
            made["tasks"] += conn.execute(text(
                "UPDATE human_tasks SET due_at = now() - interval '2 hours', next_escalation_at = now() "
                "WHERE id IN (SELECT id FROM human_tasks WHERE state = 'ready' ORDER BY random() LIMIT 5)")).rowcount


def deadlock_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")).scalar()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15, help="how long the users work (default 15)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--clients-per-role", type=int, default=1, help="client threads per demo user (default 1)")
    parser.add_argument("--overdue-every", type=float, default=20,
                        help="seconds between making 5 open tasks overdue (0: never)")
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="keep the gunicorn and scheduler logs here (default: a temporary folder, removed)")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="the maintenance database; a scratch one is made beside it")
    args = parser.parse_args()

    with scratch_database(args.pg_url) as url, tempfile.TemporaryDirectory(prefix="rectiflow-soak-") as work_dir:
        started = time.perf_counter()
        world = seed(url)
        print(f"seeded the demo school on PostgreSQL in {time.perf_counter() - started:.1f} s")
        logs = args.log_dir or Path(work_dir)
        logs.mkdir(parents=True, exist_ok=True)
        uploads, gunicorn_log, scheduler_log = (str(Path(work_dir) / "uploads"), logs / "gunicorn.log",
                                                logs / "scheduler.log")
        engine = make_engine(url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_gunicorn(url, port, uploads, args.workers, gunicorn_log)
        scheduler = start_scheduler(url, uploads, scheduler_log)
        stats = Stats()
        try:
            apis = {name: Api(base, token, stats) for name, token in world["tokens"].items()}
            for _ in range(5 * args.workers):  # warm every worker: imports, pools, cached specs
                apis["security"].call("GET", "/api/v1/tasks?view=groups&per_page=25", "warm-up")
            with engine.connect() as conn:
                first_event = conn.execute(select(func.coalesce(func.max(Event.id), 0))).scalar()
            deadlocks_before = deadlock_count(engine)
            workers = children(server.pid)
            rss = {"start": {pid: rss_mib(pid) for pid in workers}}
            scheduler_rss = {"start": rss_mib(scheduler.pid)}
            duration = args.minutes * 60
            begin = time.monotonic()
            stop_at = begin + duration
            made = Counter()
            threads = []
            for name, wanted in WORKERS.items():
                for n in range(args.clients_per_role):
                    threads.append(threading.Thread(target=work, daemon=True, args=(
                        apis[name], stats, wanted, world["units"], stop_at, zlib.crc32(f"{name}{n}".encode()),
                        name in REPORTERS and n == 0)))
            threads.append(threading.Thread(target=race, args=(apis, stats, world["units"], stop_at), daemon=True))
            threads.append(threading.Thread(target=browse, args=(base, world["tokens"]["leader"], stats, stop_at), daemon=True))
            if args.overdue_every > 0:
                threads.append(threading.Thread(target=make_overdue, daemon=True,
                                                args=(engine, stop_at, args.overdue_every, made)))
            for t in threads:
                t.start()
            print(f"gunicorn: {args.workers} sync workers on {base}; scheduler pid {scheduler.pid}; "
                  f"{len(threads)} client threads for {args.minutes:g} min")
            time.sleep(max(0.0, duration / 2))
            rss["middle"] = {pid: rss_mib(pid) for pid in workers}
            scheduler_rss["middle"] = rss_mib(scheduler.pid)
            load_middle = os.getloadavg()
            for t in threads:
                t.join(timeout=max(0.0, stop_at - time.monotonic()) + 90)
            rss["end"] = {pid: rss_mib(pid) for pid in workers}
            scheduler_rss["end"] = rss_mib(scheduler.pid)
            elapsed = time.monotonic() - begin
            workers_end = children(server.pid)
            deadlocks = deadlock_count(engine) - deadlocks_before
            scheduler_alive = scheduler.poll() is None
        finally:
            scheduler_code = stop(scheduler, signal.SIGINT)
            stop(server)
        verdict = report(stats, engine, first_event, world, elapsed, deadlocks, rss, scheduler_rss, workers,
                         workers_end, scheduler_alive, scheduler_code, gunicorn_log, scheduler_log, made, load_middle,
                         uploads)
        engine.dispose()
    sys.exit(0 if verdict else 1)


def report(stats, engine, first_event, world, elapsed, deadlocks, rss, scheduler_rss, workers, workers_end,
           scheduler_alive, scheduler_code, gunicorn_log, scheduler_log, made, load_middle, uploads) -> bool:
    total = sum(sum(c.values()) for c in stats.statuses.values())
    print(f"\n{total} requests in {elapsed:.0f} s ({total / elapsed:.1f}/s)")
    for label in sorted(stats.latency):
        samples = stats.latency[label]
        codes = " ".join(f"{code}:{n}" for code, n in sorted(stats.statuses[label].items()))
        print(f"  {label:<36} n={len(samples):<6} p50={statistics.median(samples):7.1f} ms  "
              f"p95={p95(samples):7.1f} ms  [{codes}]")

    bench_users = {world["ids"][name] for name in world["tokens"]}
    with engine.connect() as conn:
        completed = conn.execute(select(Event.task_id, func.count()).where(
            Event.kind == "TaskCompleted", Event.id > first_event).group_by(Event.task_id)).all()
        by_bench = set(conn.execute(select(Event.task_id).where(
            Event.kind == "TaskCompleted", Event.id > first_event, Event.actor_id.in_(bench_users))).scalars())
        kinds = conn.execute(select(Event.kind, func.count()).where(Event.id > first_event)
                             .group_by(Event.kind).order_by(func.count().desc())).all()
        outbox = dict(conn.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
        evidence_keys = list(conn.execute(select(Attachment.storage_key)).scalars())
    missing_files = [k for k in evidence_keys if not (Path(uploads) / k).is_file()]
    events_per_task = dict(completed)
    acknowledged = Counter(stats.acknowledged)
    lost = [t for t in acknowledged if events_per_task.get(t, 0) == 0]
    duplicated = sorted({t for t, n in acknowledged.items() if n > 1} | {t for t, n in events_per_task.items() if n > 1})
    unacknowledged = sorted(by_bench - set(acknowledged))
    log_deadlocks = sum(1 for p in (gunicorn_log, scheduler_log) if p.exists()
                        for line in p.read_text(errors="replace").splitlines() if DEADLOCK.search(line))
    worker_timeouts = gunicorn_log.read_text(errors="replace").count("WORKER TIMEOUT") if gunicorn_log.exists() else 0

    print(f"\nserver errors (5xx): {len(stats.server_errors)}")
    for label, status, body in stats.server_errors[:5]:
        print(f"  {status} {label}: {body}")
    print(f"transport errors (resets, timeouts): {len(stats.transport_errors)}; gunicorn worker timeouts: "
          f"{worker_timeouts}")
    for label, problem in stats.transport_errors[:5]:
        print(f"  {label}: {problem}")
    print(f"deadlocks: {deadlocks} (pg_stat_database.deadlocks); log lines naming one: {log_deadlocks}; responses: "
          f"{stats.deadlocks_in_responses}")
    print(f"completions acknowledged: {sum(acknowledged.values())} of {len(acknowledged)} tasks; TaskCompleted events "
          f"since the start: {sum(events_per_task.values())}; lost: {len(lost)}; duplicated: {len(duplicated)}; "
          f"completed by the bench's users without an acknowledgement: {len(unacknowledged)}")
    if lost or duplicated:
        print(f"  lost task ids: {lost[:10]}  duplicated task ids: {duplicated[:10]}")
    print("races: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.races.items())))
    print(f"made overdue for the escalation sweep: {made['tasks']} tasks; scheduler alive at the end: "
          f"{scheduler_alive}, exit code after SIGINT: {scheduler_code}")
    print("events since the start: " + ", ".join(f"{k}={n}" for k, n in kinds[:12]))
    print(f"evidence files: {len(evidence_keys)} attachment rows, {len(missing_files)} without their file")
    print("outbox rows: " + ", ".join(f"{k}={n}" for k, n in sorted(outbox.items())))

    flat = True
    print(f"\nworker RSS MiB (start / middle / end){'' if workers == workers_end else ' — WORKERS WERE REPLACED'}:")
    for pid in workers:
        start, middle, end = rss["start"].get(pid), rss["middle"].get(pid), rss["end"].get(pid)
        grew = None if middle is None or end is None else end - middle
        if grew is None or (grew > 30 and end > 1.25 * middle):
            flat = False
        fmt = lambda v: "gone" if v is None else f"{v:.0f}"  # noqa: E731
        print(f"  worker {pid}: {fmt(start)} / {fmt(middle)} / {fmt(end)}")
    print(f"  scheduler: {' / '.join('gone' if v is None else f'{v:.0f}' for v in scheduler_rss.values())}")
    load = os.getloadavg()
    print(f"load average: middle {load_middle[0]:.2f} {load_middle[1]:.2f} {load_middle[2]:.2f}; "
          f"end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")

    checks = {
        "0 server errors": not stats.server_errors,
        "0 transport errors": not stats.transport_errors and not worker_timeouts,
        "0 deadlocks": deadlocks == 0 and log_deadlocks == 0 and stats.deadlocks_in_responses == 0,
        "0 lost or duplicated steps": not lost and not duplicated,
        "every evidence file stored": not missing_files,
        "flat worker memory": flat and workers == workers_end,
        "scheduler ran throughout": scheduler_alive,
        "work was done": len(acknowledged) > 0 and stats.races["rounds"] > 0,
    }
    print("\n" + "  ".join(f"{'ok' if ok else 'FAIL'} {name}" for name, ok in checks.items()))
    return all(checks.values())


if __name__ == "__main__":
    main()
