"""Chinese subject, text and HTML bodies for every kind of notification, from the templates folder."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from engine.infra.timezone import CHINA
from engine.process.delivery import Message

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
HEADLINES = {
    "task_created": "新的待办任务",
    "task_delegated": "有任务转交给您",
    "task_returned": "任务已退回组内待认领（原认领人账号已停用）",
    "task_reminder": "任务即将到期提醒",
    "task_overdue": "任务已逾期",
    "task_escalated": "逾期任务已升级至您",
    "deadline_extended": "任务期限已延长",
    "task_reassigned": "任务已改派给您",
    "task_taken_over": "任务已由上级接办",
    "notice_issued": "收到隐患整改通知书",
    "statistics_report_ready": "隐患问题统计表已生成",
    "digest": "每日提醒汇总",
    "incident_opened": "流程运行出错，需要处理",
    "process_notice": "流程通知",
    "account_locked": "账号因连续登录失败已被临时锁定",
}

_env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _local(value: str | None) -> str:
    if not value:
        return "无"
    return datetime.fromisoformat(value).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _item(kind: str, payload: dict) -> dict:
    return {"headline": HEADLINES.get(kind, "系统通知"), "name": payload.get("name") or "",
            "hazard_id": payload.get("hazard_id"), "task_id": payload.get("task_id"),
            "due": _local(payload.get("due_at")), "rung": payload.get("rung"), "level": payload.get("level"),
            "by": payload.get("by"), "reason": payload.get("reason")}


def render(message: Message, channel: str = "email") -> Rendered:
    """Render a message in Chinese: one subject line, a plain-text body and an HTML body.

    The e-mail's "do not reply" footer is written only for e-mail; the bell and webhooks leave it out.
    """
    items = [_item(i.get("kind", ""), i) for i in message.items] if message.kind == "digest" else []
    main = _item(message.kind, message.payload)
    subject = f"【隐患整改】{main['headline']}" + (f"：{main['name']}" if main["name"] else f"（{len(items)}条）")
    context = {"message": main, "items": items, "recipient": message.recipient_name or "您好",
               "is_digest": message.kind == "digest", "channel": channel}
    return Rendered(subject, _env.get_template("message.txt").render(context),
                    _env.get_template("message.html").render(context))
