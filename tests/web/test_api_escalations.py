"""逐级督办, 需上级协调 and the bell through /api/v1: what the pages offer, a script can do."""
from __future__ import annotations

from engine.process import delivery, escalation
from notifications.inapp import InAppNotifier

from .api_fixtures import api, api_app  # noqa: F401

# The same overdue task and the same climb as the pages' tests: what the pages offer, a script can do.
from .test_pages_notifications import _climb_to_leader, china, rectify_task  # noqa: F401


def test_the_escalated_list_and_its_actions(api, services, world, rectify_task, clock):
    _climb_to_leader(services, clock)
    listed = api.call("leader", "GET", "/escalated").get_json()
    assert [t["id"] for t in listed["items"]] == [rectify_task.id] and listed["total"] == 1
    assert listed["items"][0]["escalation"]["level"] >= 2
    assert api.call("staff", "GET", "/escalated").get_json()["items"] == []

    path = f"/tasks/{rectify_task.id}"
    assert api.call("staff", "POST", f"{path}/extend", json={"due_at": "2026-10-20", "reason": "x"}).status_code == 403
    refused = api.call("leader", "POST", f"{path}/extend", json={"due_at": "2026-10-20"})
    assert refused.status_code == 422 and refused.get_json()["code"] == "invalid_form_data"
    extended = api.call("leader", "POST", f"{path}/extend", json={"due_at": "2026-10-20", "reason": "材料未到货"})
    assert extended.status_code == 200 and extended.get_json()["due_at"].startswith("2026-10-20")

    _climb_to_leader(services, clock)
    clock.set(china(2026, 10, 23))
    escalation.escalate_overdue(services)
    moved = api.call("leader", "POST", f"{path}/reassign", json={"user_id": world.users.staff2, "reason": "请赵老师办"})
    assert moved.status_code == 200 and moved.get_json()["assignee_id"] == world.users.staff2
    taken = api.call("leader", "POST", f"{path}/take-over", json={})
    assert taken.status_code == 200 and taken.get_json()["assignee_id"] == world.users.leader


def test_the_assignee_asks_the_leadership_to_coordinate(api, world, rectify_task):
    path = f"/tasks/{rectify_task.id}"
    assert api.call("staff", "POST", f"{path}/claim").status_code == 200
    assert api.call("security", "POST", f"{path}/request-coordination", json={"reason": "需要资金"}).status_code == 403
    assert api.call("outsider", "POST", f"{path}/request-coordination", json={"reason": "需要资金"}).status_code == 404
    assert api.call("staff", "POST", f"{path}/request-coordination", json={"reason": "x", "to": "mars"}).status_code == 422
    asked = api.call("staff", "POST", f"{path}/request-coordination", json={"reason": "整改需要专项资金"})
    assert asked.status_code == 200
    assert [t["id"] for t in api.call("leader", "GET", "/escalated").get_json()["items"]] == [rectify_task.id]


def test_the_bell_lists_counts_and_marks_read(api, services, world, rectify_task, clock):
    delivery.deliver_pending(services, {"inapp": InAppNotifier(delivery.inapp_store(services))})
    mine = api.call("staff", "GET", "/notifications").get_json()
    assert mine["unread"] == mine["total"] >= 1
    first = mine["items"][0]
    assert first["subject_kind"] == "task" and first["read_at"] is None
    assert api.call("staff2", "POST", "/notifications/read", json={"ids": [first["id"]]}).get_json()["changed"] == 0
    assert api.call("staff", "POST", "/notifications/read", json={"ids": [first["id"]]}).get_json()["changed"] == 1
    after = api.call("staff", "GET", "/notifications?unread_only=true").get_json()
    assert first["id"] not in [n["id"] for n in after["items"]] and after["unread"] == mine["unread"] - 1
