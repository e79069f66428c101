"""Group robots in the WeCom / DingTalk style: a JSON POST of a markdown or text message to a configured URL."""
from __future__ import annotations

import json
import urllib.request

from engine.process.delivery import Message
from notifications.templates import render


def robot_payload(message: Message) -> dict:
    """The JSON body for the endpoint's style (wecom and dingtalk markdown robots, or plain json)."""
    rendered = render(message, channel="webhook")
    if message.webhook_style == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": rendered.subject, "text": f"### {rendered.subject}\n\n{rendered.text}"}}
    if message.webhook_style == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{rendered.subject}**\n{rendered.text}"}}
    return {"id": message.id, "kind": message.kind, "subject": rendered.subject, "text": rendered.text,
            "payload": message.payload}


class WebhookNotifier:
    """POSTs one JSON message; any non-2xx answer or an `errcode` other than 0 counts as a failure."""

    channel = "webhook"

    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout

    def send(self, message: Message) -> None:
        """Deliver one message to its endpoint's URL."""
        if not message.webhook_url:
            raise ValueError(f"outbox {message.id}: no webhook URL")
        body = json.dumps(robot_payload(message), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(message.webhook_url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "X-Rectiflow-Message-Id": str(message.id)})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (admin-configured URL)
            answer = response.read()
        try:
            errcode = json.loads(answer or b"{}").get("errcode", 0)
        except (ValueError, AttributeError):
            errcode = 0
        if errcode:
            raise RuntimeError(f"robot answered errcode={errcode}: {answer[:200]!r}")
