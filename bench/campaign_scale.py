"""Campaign scale: N units self-checking M items each, worked by C concurrent clients on PostgreSQL.

Each unit's self-check is its own process instance (started by a message from the campaign) and reports back
by message, so units never wait on each other's lock and every task tree stays small. Per unit a client makes
four calls: record_item_results (all M items in one call), work_checklist, sign_self_check, review_self_check;
the last one throws the `self_check_returned` message that the campaign instance catches.

Prints: campaign creation (fan-out) time, completions/s (units fully returned per second), p50/p95 of every
client step, and the campaign instance's own step (catching one return) p95 over its first and last
deliveries — the goal is last <= 2x first. `--mode inline` delivers to the campaign inside the unit's
transaction; `--mode deferred` queues it and delivers right after commit in its own transaction.

Usage: python bench/campaign_scale.py [--units 200] [--items 30] [--clients 8] [--mode inline|deferred|both]
       [--pg-url URL]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_database  # noqa: E402
from engine.assembly import assemble  # noqa: E402
from engine.campaigns.checklists import import_checklist  # noqa: E402
from engine.campaigns.models import CampaignUnit
from engine.campaigns.service import Campaigns  # noqa: E402
from engine.infra.clock import FixedClock  # noqa: E402
from engine.infra.config import DEFAULT_BPMN_DIR  # noqa: E402
from engine.infra.db import make_engine, make_session_factory  # noqa: E402
from engine.infra.schema import upgrade  # noqa: E402
from engine.org import accounts
from engine.process import messaging  # noqa: E402
from engine.process.models import (  # noqa: E402
    HumanTask,
    ProcessInstance,
    ProcessMessage,  # noqa: E402
)

STAGES = {k: {"end": d} for k, d in (("self_check", "2099-11-15"), ("joint_inspection", "2099-11-20"),
                                     ("rectification", "2099-12-15"), ("supervision", "2099-12-30"))}


def p(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def setup(url: str, units: int, items: int):
    """A school with `units` units (one worker each), a security officer and an `items`-item checklist."""
    engine = make_engine(url)
    services = assemble(make_session_factory(engine), FixedClock(), DEFAULT_BPMN_DIR)
    services.deploy_directory()
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        city = accounts.add_org(s, "city", "市", "c")
        county = accounts.add_org(s, "county", "县", "c-b", city)
        school = accounts.add_org(s, "school", "学校", "c-b-s", county)
        security = accounts.add_user(s, "security", "保卫处", "pw", school, now,
                                     roles=[("security_office", school)]).id
        workers = {}
        for n in range(units):
            unit = accounts.add_org(s, "unit", f"单位{n}", f"u{n}", school)
            workers[unit.id] = accounts.add_user(s, f"w{n}", f"w{n}", "pw", unit, now, roles=[
                ("department_staff", unit), ("department_head", unit)]).id
        rows = "".join(f"类别{i // 10},{i % 10 + 1},检查内容{i},现场查看,学校\n" for i in range(items))
        template = import_checklist(s, ("督查项目,序号,督查内容,督查方法,责任部门\n" + rows).encode(), "b.csv",
                                    "bench", now)
        uow.commit()
        ids = dict(security=security, template=template.id, school=school.id,
                   items=[i.id for i in template.items])
    return services, engine, ids, workers


def _task(services, bpmn_id: str, org_id: int) -> int:
    with services.uow() as uow:
        return uow.session.scalars(select(HumanTask.id).where(
            HumanTask.bpmn_id == bpmn_id, HumanTask.candidate_org_id == org_id, HumanTask.state == "ready")).one()


def run(url: str, units: int, items: int, clients: int, mode: str) -> None:
    messaging.delivery_mode = mode
    services, engine, ids, workers = setup(url, units, items)
    campaigns = Campaigns(services)
    started = time.perf_counter()
    campaign = campaigns.create_campaign(ids["security"], "bench", ids["template"], list(workers), STAGES)
    fan_out = time.perf_counter() - started

    deliveries: list[tuple[float, float]] = []  # (finished at, seconds) of each message caught by the campaign
    original = messaging.deliver

    def timed_deliver(projector, message, target_id, thrown=None):
        t0 = time.perf_counter()
        result = original(projector, message, target_id, thrown)
        if target_id == campaign.instance_id:
            deliveries.append((time.perf_counter(), time.perf_counter() - t0))
        return result

    messaging.deliver = timed_deliver
    steps: dict[str, list[float]] = {k: [] for k in ("record", "work", "sign", "review")}
    lock = threading.Lock()
    queue = list(workers.items())
    errors: list[str] = []

    def client():
        while True:
            with lock:
                if not queue:
                    return
                unit_id, worker = queue.pop()
            try:
                for name, call in (
                    ("record", lambda: campaigns.record_item_results(worker, campaign.id, unit_id, [
                        {"item_id": i, "result": "checked"} for i in ids["items"]])),
                    ("work", lambda: services.complete_task(_task(services, "work_checklist", unit_id), worker, {})),
                    ("sign", lambda: services.complete_task(_task(services, "sign_self_check", unit_id), worker,
                                                            {"signer_name": "负责人"})),
                    ("review", lambda: services.complete_task(_review_task(unit_id), ids["security"],
                                                              {"decision": "accept"})),
                ):
                    t0 = time.perf_counter()
                    call()
                    with lock:
                        steps[name].append(time.perf_counter() - t0)
            except Exception as exc:  # noqa: BLE001 - report and go on; the figures say how many failed
                with lock:
                    errors.append(f"unit {unit_id}: {type(exc).__name__}: {exc}")

    def _review_task(unit_id: int) -> int:
        with services.uow() as uow:
            instance_id = uow.session.scalar(select(CampaignUnit.instance_id).where(
                CampaignUnit.campaign_id == campaign.id, CampaignUnit.org_id == unit_id))
            return uow.session.scalars(select(HumanTask.id).where(
                HumanTask.instance_id == instance_id, HumanTask.bpmn_id == "review_self_check",
                HumanTask.state == "ready")).one()

    t_start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if mode == "deferred":
        services.deliver_messages()
    wall = time.perf_counter() - t_start
    messaging.deliver = original

    with services.uow() as uow:
        s = uow.session
        returned = s.scalar(select(func.count()).select_from(ProcessMessage).where(
            ProcessMessage.name == "self_check_returned", ProcessMessage.status == "delivered"))
        review_ready = s.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.bpmn_id == "review_returns", HumanTask.state == "ready"))
        state_size = len(s.get(ProcessInstance, campaign.instance_id).state_json)
    all_steps = [v for values in steps.values() for v in values]
    camp = [d for _, d in sorted(deliveries)]
    k = max(1, min(20, len(camp) // 5))
    print(f"mode={mode} units={units} items={items} clients={clients} backend={engine.dialect.name}")
    print(f"  campaign creation (fan-out to {units} instances, one transaction): {fan_out:.2f}s")
    print(f"  completions: {returned}/{units} returns delivered in {wall:.1f}s = {returned / wall:.2f} units/s "
          f"({len(all_steps) / wall:.1f} steps/s); review_returns open: {review_ready}; errors: {len(errors)}")
    for name, values in steps.items():
        print(f"  step {name:<7} n={len(values):>4} p50={p(values, .5):7.1f}ms p95={p(values, .95):7.1f}ms")
    print(f"  all steps        n={len(all_steps):>4} p50={p(all_steps, .5):7.1f}ms p95={p(all_steps, .95):7.1f}ms")
    print(f"  campaign step p95: first {k} = {p(camp[:k], .95):.1f}ms, last {k} = {p(camp[-k:], .95):.1f}ms "
          f"(ratio {p(camp[-k:], .95) / p(camp[:k], .95):.2f}); campaign state {state_size} bytes")
    for line in errors[:5]:
        print("  error:", line)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mode", choices=("inline", "deferred", "both"), default="both")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="An existing database used to create a throwaway one.")
    args = parser.parse_args()
    for mode in (("inline", "deferred") if args.mode == "both" else (args.mode,)):
        with scratch_database(args.pg_url) as url:
            upgrade(url)
            run(url, args.units, args.items, args.clients, mode)


if __name__ == "__main__":
    main()
