"""Two schedule sweeps at once against PostgreSQL start every occurrence exactly once."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from engine.assembly import assemble
from engine.campaigns import checklists
from engine.campaigns.models import Campaign
from engine.infra.clock import FixedClock
from engine.infra.db import make_engine, make_session_factory
from engine.infra.timezone import CHINA
from engine.process.models import Event, ProcessInstance
from engine.schedules.models import InspectionOccurrence
from engine.schedules.service import Schedules, run_due_schedules

CSV = "督查项目,序号,督查内容,督查方法,责任部门\n消防安全,1,消防设施,现场查看,各二级学院\n".encode()


@pytest.fixture
def many_schedules(services, world, database_url, clock):
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is a PostgreSQL feature; SQLite serialises whole write transactions")
    schedules = Schedules(services)
    with services.uow() as uow:
        template = checklists.import_checklist(uow.session, CSV, "t.csv", "清单", clock.now())
        uow.commit()
    ids = [schedules.create_schedule(world.users.security, {
        "title": f"巡查{i}", "cadence": "daily", "target": {"units": [{"org_id": unit, "sites": [f"部位{i}"]}]}}).id
        for i, unit in enumerate([world.orgs.college, world.orgs.logistics, world.orgs.security_unit] * 4)]
    ids.append(schedules.create_schedule(world.users.security, {
        "title": "月度大排查", "cadence": "monthly", "kind": "campaign", "window": "P10D",
        "template_id": template.id, "target": {"all_units": True}}).id)
    return ids


def test_two_concurrent_sweeps_start_each_occurrence_once(services, many_schedules, database_url, bpmn_dir, clock):
    clock.set(datetime(2026, 11, 4, 9, tzinfo=CHINA).astimezone(timezone.utc))  # two days behind: 11-02, 11-03 missed
    other = assemble(make_session_factory(make_engine(database_url)), FixedClock(clock.now()), bpmn_dir)
    start = threading.Barrier(2)
    results, errors = [], []

    def sweep(svc):
        start.wait()
        try:
            results.append(run_due_schedules(svc))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(svc,)) for svc in (services, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert errors == []
    assert sum(r.started for r in results) == len(many_schedules)
    assert not any("error" in a for r in results for a in r.actions)
    with services.uow() as uow:
        s = uow.session
        rows = list(s.scalars(select(InspectionOccurrence)))
        per_key = Counter((o.schedule_id, o.period_key) for o in rows)
        instances = s.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.business_key.startswith("inspection:")))
        campaigns = s.scalar(select(func.count()).select_from(Campaign))
        started = s.scalar(select(func.count()).select_from(Event).where(Event.kind == "InspectionStarted"))
    assert set(per_key.values()) == {1}
    daily = len(many_schedules) - 1
    assert Counter(o.status for o in rows) == {"open": daily + 1, "missed": 2 * daily}
    assert (instances, campaigns, started) == (daily, 1, len(many_schedules))
    assert sum(r.started for r in (run_due_schedules(services),)) == 0
