"""Template helpers: China-time formatting and the Chinese labels of roles, stages, grades and sources."""
from __future__ import annotations

import json
from datetime import date, datetime

from flask import Flask
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from engine.infra.timezone import CHINA
from engine.rectification.hazards import STAGE_ORDER

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"

STAGE_LABELS = {
    "discover": _l("发现"), "register": _l("登记评估"), "report": _l("报告"), "rectify": _l("治理整改"),
    "accept": _l("验收"), "close": _l("销号"), "archive": _l("备案存档"),
}
ROLE_LABELS = {
    "department_staff": _l("部门工作人员"), "grid_officer": _l("网格安全员"), "department_head": _l("部门负责人"),
    "security_office": _l("保卫处"), "inspector": _l("联合检查组"), "leader": _l("校领导"),
    "supervisor": _l("督导组（教育局）"), "process_designer": _l("流程设计员"), "admin": _l("管理员"),
}
GRADE_LABELS = {"general": _l("一般隐患"), "major": _l("重大隐患")}
SOURCE_LABELS = {
    "self_check": _l("自查自纠"), "joint_inspection": _l("联检联查"), "supervision": _l("督导检查"),
    "look_back": _l("回头看"), "patrol": _l("日常巡查"), "report": _l("随手报"),
}
EVENT_LABELS = {
    "HazardReported": _l("上报隐患"), "TaskCreated": _l("生成待办"), "TaskClaimed": _l("认领"),
    "TaskUnclaimed": _l("退回待认领"), "TaskDelegated": _l("转办"), "TaskCompleted": _l("已办理"),
    "TaskCancelled": _l("待办取消"), "TimerFired": _l("定时触发"), "HazardClosed": _l("销号"),
    "HazardArchived": _l("备案存档"), "CommentAdded": _l("评论"), "EvidenceAdded": _l("上传佐证材料"),
    "NoticeIssued": _l("下达整改通知书"), "NoticeReissued": _l("重新下达整改通知书"),
    "HazardReinspected": _l("回头看复查"), "HazardReopened": _l("回头看发现反弹，重新整改"),
    "ProcessStarted": _l("流程已发起"), "InstanceCancelled": _l("流程已取消"),
}
RESULT_LABELS = {"checked": _l("已检查无问题"), "na": _l("不适用"), "hazard": _l("发现隐患")}  # a checklist answer
INSTANCE_STATUS_LABELS = {
    "running": _l("进行中"), "completed": _l("已完成"), "superseded": _l("已被取代"), "cancelled": _l("已取消"),
}


def china_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime shown in China time; dates as they are; empty for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(CHINA).strftime(fmt)
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def label(mapping: dict, key) -> str:
    """The translated label of a code, or the code itself when it has none."""
    return str(mapping[key]) if key in mapping else (key or "")


def init_templating(app: Flask) -> None:
    """Register filters and globals every template may use."""
    app.jinja_env.filters["china_time"] = china_time
    # Text a diagram or form supplied: looked up in the catalog (the shipped forms' titles are there), returned as
    # a plain string so autoescape escapes it. Never `_()` in a template: Jinja marks its result safe.
    app.jinja_env.filters["catalog"] = translate
    app.jinja_env.filters["stage"] = lambda v: label(STAGE_LABELS, v)
    app.jinja_env.filters["role"] = lambda v: label(ROLE_LABELS, v)
    app.jinja_env.filters["grade"] = lambda v: label(GRADE_LABELS, v)
    app.jinja_env.filters["source"] = lambda v: label(SOURCE_LABELS, v)
    app.jinja_env.filters["event"] = lambda v: label(EVENT_LABELS, v)
    app.jinja_env.filters["instance_status"] = lambda v: label(INSTANCE_STATUS_LABELS, v)
    # Process variables as JSON text (Chinese kept readable; the autoescape makes it safe HTML).
    app.jinja_env.filters["json_text"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
    app.jinja_env.filters["dict_without"] = lambda d, *keys: {k: v for k, v in d.items() if k not in keys}
    # The reader's labels of the role codes lanes are named by, for the diagram viewer (static/js/diagram.js).
    app.jinja_env.globals["role_labels"] = lambda: {code: str(text) for code, text in ROLE_LABELS.items()}
    app.jinja_env.globals.update(STAGE_ORDER=STAGE_ORDER, STAGE_LABELS=STAGE_LABELS, GRADE_LABELS=GRADE_LABELS,
                                 SOURCE_LABELS=SOURCE_LABELS)

    @app.context_processor
    def _globals():
        return {"current_locale": str(get_locale() or "zh_CN"), "html_lang": _html_lang(), "current_user": current_user}


def _html_lang() -> str:
    locale = str(get_locale() or "zh_CN")
    return "zh-CN" if locale.startswith("zh") else "en"


def translate(text: str | None) -> str:
    """Translate text that comes from data (form titles); the catalog holds the shipped forms' titles."""
    return _(text) if text else ""


ERROR_TEXTS = {
    "not_allowed": _l("您无权执行此操作"),
    "not_found": _l("记录不存在，或不在您的查看范围内"),
    "task_already_claimed": _l("该任务已被他人认领"),
    "stale_task": _l("该任务已办结或已变更，请刷新页面"),
    "concurrent_update": _l("流程刚被他人推进，请刷新后重试"),
    "workflow_failed": _l("流程无法继续，请联系管理员"),
}
UPLOAD_TEXTS = {
    "file type not allowed": _l("文件类型不允许（仅限 JPEG/PNG/WebP 图片、PDF、Word、Excel、纯文本）"),
    "empty file": _l("文件为空"),
    "larger than": _l("文件过大"),
}


class BadInput(BadRequest):
    """A 400 whose description is a message for the user in their language, shown on the error page."""


def bad_input(message) -> BadInput:
    """A refusal of a request's parameters that the error page shows as it is (a `_l()` label, no user data)."""
    return BadInput(description=str(message))


def date_arg(args, name: str, label) -> date | None:
    """A query argument that must be an ISO date (None when absent); a friendly 400 naming its `label` otherwise."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_input(_("“%(field)s”不是有效的日期，请按 2026-11-01 的格式填写。", field=label)) from None


def error_text(exc) -> str:
    """A domain error in the user's language (the engine's English message stays in the logs and the API)."""
    for detail in getattr(exc, "errors", None) or []:
        for fragment, text in UPLOAD_TEXTS.items():
            if fragment in (detail.get("message") or ""):
                return str(text)
    if "you carried out" in (exc.message or ""):
        return str(_l("您办理过本隐患的整改，不能再验收（整改与验收须由不同人员办理）"))
    text = ERROR_TEXTS.get(getattr(exc, "code", ""))
    return str(text) if text is not None else exc.message
