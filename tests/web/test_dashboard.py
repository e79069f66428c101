"""驾驶舱: the leader lands on it, its figures match the hazards, and each figure opens the list behind it."""
from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from engine.process.models import HumanTask
from engine.rectification.models import Hazard

from .api_fixtures import api, api_app  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401

REGISTER = {"responsible_person": "刘院长", "responsible_unit_id": None}


def _hazards(report_hazard, do, world):
    """Two hazards registered for the college (one 重大, due soon), one for logistics, one not yet registered."""
    made = []
    for problem, grade, unit, deadline in (("车床防护罩缺失", "major", world.orgs.college, "2026-11-04"),
                                           ("配电箱未上锁", "general", world.orgs.college, "2026-11-20"),
                                           ("食堂灭火器过期", "general", world.orgs.logistics, "2026-11-03")):
        hazard = report_hazard(problem=problem)
        do(hazard.id, "register_hazard", world.users.security,
           {"grade": grade, "responsible_person": "刘院长", "deadline": deadline, "responsible_unit_id": unit})
        made.append(hazard)
    made.append(report_hazard(problem="楼道堆物"))
    return made


def _overdue_now(services, clock) -> set[tuple[int, int]]:
    """(hazard id, unit) of every hazard with an open task past its due time: what 逾期 means everywhere."""
    with services.uow() as uow:
        return set(uow.session.execute(select(Hazard.id, Hazard.unit_id).join(HumanTask, HumanTask.hazard_id == Hazard.id)
                                       .where(HumanTask.state == "ready", HumanTask.due_at < clock.now())).all())


def test_the_figures_count_the_hazards_and_the_overdue_units(api, services, report_hazard, do, world, clock):
    _hazards(report_hazard, do, world)
    clock.advance(timedelta(days=3))  # 11-05
    overdue = _overdue_now(services, clock)
    data = api.call("leader", "GET", "/dashboard").get_json()
    assert data["kpis"]["open"] == 4 and data["kpis"]["major_open"] == 1
    assert data["kpis"]["overdue"] == len(overdue) >= 1
    by_unit = {u["key"]: u["overdue"] for u in data["overdue_by_unit"]}
    assert by_unit == dict(Counter(unit for _id, unit in overdue))
    month = next(m for m in data["trend"] if m["month"] == "2026-11")
    assert month["found"] == 4 and month["closed"] == 0 and len(data["trend"]) == 12
    assert sum(c["open"] for c in data["open_by_category"]) == 4
    assert "schools" not in data, "a school's dashboard has no ranking of schools"
    bureau = api.call("supervisor", "GET", "/dashboard").get_json()
    assert [(r["label"], r["overdue"]) for r in bureau["schools"]][0] == ("某职业学院", len(overdue))
    assert api.call("staff", "GET", "/dashboard").status_code == 403


def test_a_leader_lands_on_the_dashboard_and_a_figure_opens_exactly_its_hazards(app, login, services, report_hazard,
                                                                                do, world, clock):
    _hazards(report_hazard, do, world)
    clock.advance(timedelta(days=3))
    overdue = {hazard_id for hazard_id, _unit in _overdue_now(services, clock)}
    client = app.test_client()
    landed = client.post("/login", data={"username": "leader", "password": "pw-leader"})
    assert landed.status_code == 302 and landed.location.endswith("/dashboard")
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'data-testid="dashboard-approvals"' in page
    link = re.search(r'href="([^"]+)" data-testid="kpi-overdue"', page).group(1).replace("&amp;", "&")
    listed = client.get(link).get_data(as_text=True)
    assert set(map(int, re.findall(r'data-testid="hazard-row-(\d+)"', listed))) == overdue
    assert client.get("/dashboard.json").get_json()["kpis"]["overdue"] == len(overdue)
    staff = app.test_client()
    assert staff.post("/login", data={"username": "staff", "password": "pw-staff"}).location.endswith("/inbox")
    assert staff.get("/dashboard").status_code == 403
