"""The inbox's search box and sort orders, on the page and in GET /api/v1/tasks."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.process.models import HumanTask

from .api_fixtures import api, api_app  # noqa: F401
from .ui_fixtures import app, login  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def three(services, report_hazard, clock):
    """Three hazards waiting at 登记评估 for the security office: reported a day apart, then given distinct
    priorities and due times so that each order differs."""
    ids = []
    for problem in ("灭火器过期", "配电箱未上锁", "消防通道堵塞"):
        ids.append(report_hazard(problem=problem).id)
        clock.advance(days=1)
    with services.uow() as uow:
        tasks = {t.hazard_id: t for t in uow.session.scalars(select(HumanTask).where(HumanTask.hazard_id.in_(ids)))}
        base = clock.now()
        for hazard_id, (priority, due_days) in zip(ids, ((10, 3), (90, 2), (50, 1))):
            tasks[hazard_id].priority, tasks[hazard_id].due_at = priority, base + timedelta(days=due_days)
        uow.commit()
    return ids


def _order(api, **query):
    response = api.call("security", "GET", "/tasks", query_string={"view": "groups", **query})
    assert response.status_code == 200, response.get_json()
    return [t["hazard_id"] for t in response.get_json()["items"]]


def test_the_task_list_sorts_by_due_priority_and_age_and_searches(api, three):
    old, mid, new = three
    assert _order(api) == [new, mid, old]  # most urgent first
    assert _order(api, sort="priority") == [mid, new, old]
    assert _order(api, sort="age") == [old, mid, new]
    assert _order(api, q="配电箱") == [mid]
    assert _order(api, q=f"#{old}") == [old]
    assert _order(api, q="登记") == [new, mid, old]  # the task's own name
    assert _order(api, q="100%_") == []  # LIKE wildcards are text, not patterns
    refused = api.call("security", "GET", "/tasks", query_string={"sort": "random"})
    assert refused.status_code == 422
    paged = api.call("security", "GET", "/tasks", query_string={"view": "groups", "per_page": 1}).get_json()
    assert paged["next_cursor"]
    mixed = api.call("security", "GET", "/tasks", query_string={"view": "groups", "sort": "age",
                                                                 "cursor": paged["next_cursor"]})
    assert mixed.status_code == 422 and mixed.get_json()["errors"][0]["field"] == "cursor"


def test_the_inbox_page_searches_and_sorts(login, three):
    client = login("security")
    page = client.get("/inbox?view=groups&sort=age").get_data(as_text=True)
    assert 'data-testid="inbox-search"' in page and '<option value="age" selected' in page
    problems = ("灭火器过期", "配电箱未上锁", "消防通道堵塞")  # reported in this order: oldest first
    assert sorted(problems, key=page.index) == list(problems)
    found = client.get("/inbox?view=groups&q=配电箱").get_data(as_text=True)
    assert "配电箱未上锁" in found and "灭火器过期" not in found and 'value="配电箱"' in found
    # A made-up order falls back to the default instead of failing.
    assert client.get("/inbox?view=groups&sort=random").status_code == 200
