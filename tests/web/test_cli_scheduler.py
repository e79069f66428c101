"""`rectiflow escalate`, `deliver`, `escalated`, `notifications` and the scheduler's jobs, as an operator runs them."""
from __future__ import annotations

import re

from web.cli.scheduler import build_scheduler
from tests.web.cli_fixtures import cli  # noqa: F401 - fixture


def test_demo_task_visibly_climbs_the_ladder_when_the_clock_moves(cli, monkeypatch):
    monkeypatch.delenv("RECTIFLOW_SMTP_HOST", raising=False)
    cli("demo", "--no-serve")
    dry = cli("escalate", "--now", "--dry-run", "--days-ahead", "6")
    assert "would: task" in dry and "dry run:" in dry
    first = cli("escalate", "--now", "--days-ahead", "6")
    assert re.search(r"task \d+: overdue, escalated to level 1 unit_head", first)
    assert "escalated to level 1" not in cli("escalate", "--now", "--days-ahead", "6"), "a second run does nothing"
    assert "部门负责人" in cli("escalated", "--user", "head_hq")
    for days in ("10", "12", "16"):
        cli("escalate", "--now", "--days-ahead", days)
    bureau = cli("escalated", "--user", "bureau")
    assert "level 4 教育局" in bureau
    delivered = cli("deliver", "--days-ahead", "16")
    assert re.search(r"sent=[1-9]", delivered) and "failed=0" in delivered
    bell = cli("notifications", "--user", "head_hq")
    assert "逾期任务已升级至您" in bell and "unread" in bell


def test_scheduler_registers_its_jobs_without_starting(services):
    scheduler = build_scheduler(services, {}, blocking=False)
    assert sorted(job.id for job in scheduler.get_jobs()) == [
        "audit_seal", "daily_digest", "escalation_sweep", "inspection_schedules", "message_delivery", "outbox_delivery",
        "statistics_reports", "timer_start_sweep", "timer_sweep"]
