"""Real channels against local servers: SMTP (aiosmtpd) with Chinese bodies, a webhook robot (http.server)."""
from __future__ import annotations

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.org.models import User
from engine.process import delivery
from engine.process.models import OutboxMessage, WebhookEndpoint
from notifications.smtp import SmtpNotifier, SmtpSettings
from notifications.webhook import WebhookNotifier

from .only_rectification import bpmn_dir  # noqa: F401


class Mailbox:
    """An aiosmtpd handler that refuses the first `refuse` messages with a temporary error."""

    def __init__(self, refuse: int = 0):
        self.refuse = refuse
        self.received: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 mailbox busy, try later"
        self.received.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    """Factory: a local SMTP server on a free port; returns (handler, settings)."""
    controllers = []

    def _start(refuse: int = 0):
        box = Mailbox(refuse)
        with socket.socket() as probe:  # a free port on the loopback interface
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return box, SmtpSettings(host="127.0.0.1", port=port, sender="aq@school.example")

    yield _start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def overdue_for_head(services, world, clock):
    with services.uow() as uow:
        uow.session.get(User, world.users.head).email = "head@school.example"
        uow.session.add(OutboxMessage(created_at=clock.now(), kind="task_escalated", recipient_id=world.users.head,
                                      status="pending", next_attempt_at=clock.now(),
                                      payload={"task_id": 12, "name": "落实整改", "hazard_id": 5, "level": 1,
                                               "rung": "部门负责人", "due_at": "2026-11-06T10:00:00+00:00"}))
        uow.commit()


def test_smtp_delivers_chinese_text_and_html_to_a_local_server(services, overdue_for_head, smtp_server):
    box, settings = smtp_server()
    run = delivery.deliver_pending(services, {"email": SmtpNotifier(settings)})
    assert run.sent == 1 and len(box.received) == 1
    mail = box.received[0]
    assert mail["Subject"] == "【隐患整改】逾期任务已升级至您：落实整改"
    assert mail["To"] == "head <head@school.example>"
    assert mail["Message-ID"].startswith("<rectiflow-outbox-")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "办理期限：2026-11-06 18:00" in text and "第1级（部门负责人）" in text
    assert "<h2>逾期任务已升级至您</h2>" in html and "2026-11-06 18:00" in html


def test_a_failing_smtp_server_leads_to_retries_then_one_delivery(services, overdue_for_head, smtp_server, clock):
    box, settings = smtp_server(refuse=2)
    notifier = {"email": SmtpNotifier(settings)}
    assert delivery.deliver_pending(services, notifier).retried == 1
    with services.uow() as uow:
        row = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email")).one()
    assert row.status == "pending" and "451" in row.last_error
    clock.set(row.next_attempt_at)
    assert delivery.deliver_pending(services, notifier).retried == 1
    clock.advance(minutes=2)
    assert delivery.deliver_pending(services, notifier).sent == 1
    clock.advance(hours=2)
    delivery.deliver_pending(services, notifier)
    assert len(box.received) == 1, "delivered exactly once"


def test_an_smtp_server_that_keeps_failing_ends_failed_not_lost(services, overdue_for_head, smtp_server, clock):
    box, settings = smtp_server(refuse=100)
    notifier = {"email": SmtpNotifier(settings)}
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.deliver_pending(services, notifier)
        clock.advance(hours=1)
    delivery.deliver_pending(services, notifier)
    with services.uow() as uow:
        row = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email")).one()
    assert (row.status, row.attempts, box.received) == ("failed", delivery.MAX_ATTEMPTS, [])
    assert "451" in row.last_error


class Robot(BaseHTTPRequestHandler):
    received: list = []
    answer = {"errcode": 0, "errmsg": "ok"}

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Robot.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        payload = json.dumps(Robot.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def robot_url():
    Robot.received, Robot.answer = [], {"errcode": 0, "errmsg": "ok"}
    server = HTTPServer(("127.0.0.1", 0), Robot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test"
    server.shutdown()
    server.server_close()


def test_webhook_posts_a_wecom_markdown_message_to_a_local_server(services, world, clock, robot_url):
    with services.uow() as uow:
        uow.session.add(WebhookEndpoint(org_id=world.orgs.college, name="机电学院安全群", url=robot_url, style="wecom"))
        uow.session.add(OutboxMessage(created_at=clock.now(), kind="task_overdue", recipient_role="department_staff",
                                      recipient_org_id=world.orgs.college, status="pending",
                                      next_attempt_at=clock.now(), payload={"task_id": 1, "name": "落实整改"}))
        uow.commit()
    run = delivery.deliver_pending(services, {"webhook": WebhookNotifier()})
    assert run.sent == 1
    [(path, content_type, body)] = Robot.received
    assert path.endswith("key=test") and content_type.startswith("application/json")
    assert body["msgtype"] == "markdown" and "任务已逾期：落实整改" in body["markdown"]["content"]


def test_a_robot_error_code_is_a_failure_that_is_retried(services, world, clock, robot_url):
    Robot.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    with services.uow() as uow:
        uow.session.add(WebhookEndpoint(org_id=world.orgs.college, name="群", url=robot_url, style="dingtalk"))
        uow.session.add(OutboxMessage(created_at=clock.now(), kind="task_overdue", recipient_role="department_staff",
                                      recipient_org_id=world.orgs.college, status="pending",
                                      next_attempt_at=clock.now(), payload={"task_id": 1, "name": "落实整改"}))
        uow.commit()
    assert delivery.deliver_pending(services, {"webhook": WebhookNotifier()}).retried == 1
    with services.uow() as uow:
        row = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "webhook")).one()
    assert "errcode=93000" in row.last_error and Robot.received[0][2]["msgtype"] == "markdown"
