"""Notification texts: no "None" for a task that has no hazard, and the e-mail footer only in e-mail."""
from __future__ import annotations

from engine.process.delivery import Message
from notifications.inapp import InAppNotifier
from notifications.templates import render

CAMPAIGN_TASK = {"name": "汇总审核自查情况", "task_id": 7, "due_at": "2026-12-07T10:00:00+00:00"}
HAZARD_TASK = {"name": "落实整改", "task_id": 8, "hazard_id": 3, "due_at": "2026-12-07T10:00:00+00:00"}
FOOTER = "本邮件由系统自动发送"


def test_a_digest_of_campaign_and_hazard_tasks_names_a_hazard_only_where_there_is_one():
    digest = Message(id=1, channel="email", kind="digest", payload={},
                     items=[dict(CAMPAIGN_TASK, kind="task_reminder"), dict(HAZARD_TASK, kind="task_overdue")])
    rendered = render(digest)
    for body in (rendered.text, rendered.html):
        assert "None" not in body
        assert "隐患#3" in body and "任务#7" in body and "任务#8" in body


def test_a_campaign_task_message_has_no_hazard_number():
    rendered = render(Message(id=2, channel="email", kind="task_created", payload=CAMPAIGN_TASK))
    assert "None" not in rendered.text and "隐患编号" not in rendered.text


def test_the_do_not_reply_footer_is_written_for_email_only():
    message = Message(id=3, channel="inapp", kind="task_created", payload=HAZARD_TASK)
    assert FOOTER in render(message).text and FOOTER in render(message).html
    stored = []
    InAppNotifier(lambda msg, subject, text: stored.append(text)).send(message)
    assert stored and FOOTER not in stored[0] and "请登录" in stored[0]
    assert FOOTER not in render(message, channel="webhook").text
