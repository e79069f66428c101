"""Group-robot endpoints (WeCom / DingTalk style) per organisation: add, list, remove; each change is audited."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, NotFound
from engine.org.models import OrgNode
from engine.process.events import record_event
from engine.process.models import WebhookEndpoint

WEBHOOK_STYLES = ("wecom", "dingtalk", "json")
_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


def _checked(name: str, url: str, style: str, event_kinds: list[str]) -> tuple[str, str]:
    errors = []
    name, url = (name or "").strip(), (url or "").strip()
    if not name or len(name) > 100:
        errors.append({"field": "name", "message": "名称必填，且不超过100字"})
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        errors.append({"field": "url", "message": "地址须为 http(s):// 开头的完整网址，且不超过500字符"})
    if style not in WEBHOOK_STYLES:
        errors.append({"field": "style", "message": f"格式须为 {', '.join(WEBHOOK_STYLES)} 之一"})
    bad = [k for k in event_kinds if not _KIND.match(k)]
    if bad:
        errors.append({"field": "event_kinds", "message": f"事件类型无效：{', '.join(bad)}"})
    if errors:
        raise InvalidFormData("the webhook endpoint is not valid: "
                              + "; ".join(e["field"] for e in errors), errors)
    return name, url


def add_webhook(services, org_id: int, name: str, url: str, style: str = "wecom",
                event_kinds: list[str] | None = None, actor_id: int | None = None) -> WebhookEndpoint:
    """Register a group robot that receives the events addressed to one organisation (all kinds, or those listed)."""
    kinds = sorted(set(event_kinds or []))
    name, url = _checked(name, url, style, kinds)
    with services.uow() as uow:
        s, now = uow.session, services.clock.now()
        if s.get(OrgNode, org_id) is None:
            raise NotFound(f"organisation {org_id} does not exist")
        endpoint = WebhookEndpoint(org_id=org_id, name=name, url=url, style=style, event_kinds=kinds, active=True)
        s.add(endpoint)
        s.flush()
        # The URL carries the robot's key: the audit trail names the endpoint, not its address.
        record_event(s, now, "WebhookEndpointAdded", actor_id, endpoint_id=endpoint.id, org_id=org_id, name=name,
                     style=style, event_kinds=kinds)
        uow.commit()
        return endpoint


def remove_webhook(services, endpoint_id: int, actor_id: int | None = None) -> WebhookEndpoint:
    """Stop sending new events to a robot (the row stays, inactive, for the record; queued sends still go out)."""
    with services.uow() as uow:
        s = uow.session
        endpoint = s.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or not endpoint.active:
            raise NotFound(f"no active webhook endpoint {endpoint_id}")
        endpoint.active = False
        record_event(s, services.clock.now(), "WebhookEndpointRemoved", actor_id, endpoint_id=endpoint.id,
                     org_id=endpoint.org_id, name=endpoint.name)
        uow.commit()
        return endpoint


def webhooks(s: Session, org_id: int | None = None, include_removed: bool = False) -> list[WebhookEndpoint]:
    """Endpoints by id, for one organisation or all; removed ones only when asked."""
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if org_id is not None:
        stmt = stmt.where(WebhookEndpoint.org_id == org_id)
    if not include_removed:
        stmt = stmt.where(WebhookEndpoint.active.is_(True))
    return list(s.scalars(stmt))


def masked_url(url: str) -> str:
    """The URL with its query (where WeCom and DingTalk put the robot's key) cut to its last four characters."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    return f"{parts.scheme}://{parts.netloc}{parts.path}?…{parts.query[-4:]}"
