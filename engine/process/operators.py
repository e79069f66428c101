"""Service-task operators: the few named things a BPMN service task may do (SpiffArena's serviceTaskOperator).

A diagram names an operator and gives its parameters as expressions over the task data:

    <spiffworkflow:serviceTaskOperator id="notify">
      <spiffworkflow:parameters>
        <spiffworkflow:parameter id="user" type="str" value="'security'" />
        <spiffworkflow:parameter id="message" type="str" value="f'采购 {amount} 元待复核'" />
      </spiffworkflow:parameters>
    </spiffworkflow:serviceTaskOperator>

SpiffWorkflow evaluates the parameters in the restricted evaluator and calls the script engine, which calls
`run_operator`. Nothing leaves the engine while the workflow runs: `notify` and `http_post` only note an effect on
the workflow, and the projector turns the effects into outbox rows in the transaction that stores the advance
(`write_effects`), so a step that rolls back sends nothing and delivery happens after commit, with retries.
`http_post` may only reach an active WebhookEndpoint (the allow-list an administrator keeps, webhooks.py).
Lint refuses a service task naming an operator that is not in `OPERATOR_NAMES`; at run time it is a clear error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import ScriptNotAllowed, WorkflowFailed
from engine.org.models import User
from engine.process.models import ProcessInstance, WebhookEndpoint
from engine.process.outbox import enqueue

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_EFFECTS_ATTRIBUTE = "rectiflow_effects"  # kept on the top workflow object in memory only, never serialized


@dataclass
class Effect:
    """Something an operator asked for, sent through the outbox when the advance is stored."""

    operator: str
    element_id: str
    params: dict = field(default_factory=dict)


def _text(params: dict, name: str, operator: str, required: bool = True, limit: int = 2000) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise ScriptNotAllowed(f"operator {operator!r} needs the parameter {name!r}")
        return None
    return str(value)[:limit]


def _notify(params: dict, data: dict, effects: list, element_id: str) -> dict:
    message = _text(params, "message", "notify")
    user, role = params.get("user"), _text(params, "role", "notify", required=False, limit=32)
    if user in (None, "") and not role:
        raise ScriptNotAllowed("operator 'notify' needs a recipient: the parameter 'user' (username or id) or 'role'")
    org_id = params.get("org_id", data.get("school_id")) if role else None
    effects.append(Effect("notify", element_id, {
        "title": _text(params, "title", "notify", required=False, limit=200) or message[:60],
        "message": message, "user": user, "role": role, "org_id": org_id}))
    return {"queued": True}


def _http_post(params: dict, data: dict, effects: list, element_id: str) -> dict:
    endpoint = params.get("endpoint")
    if endpoint in (None, ""):
        raise ScriptNotAllowed("operator 'http_post' needs the parameter 'endpoint' (a webhook endpoint's name or id)")
    body = params.get("body", {})
    if not isinstance(body, (dict, list, str, int, float, bool)):
        raise ScriptNotAllowed(f"operator 'http_post': the body must be JSON data, not {type(body).__name__}")
    effects.append(Effect("http_post", element_id, {"endpoint": endpoint, "body": body}))
    return {"queued": True}


def _set_variable(params: dict, data: dict, effects: list, element_id: str) -> dict:
    name = _text(params, "name", "set_variable", limit=100)
    if not _IDENTIFIER.match(name):
        raise ScriptNotAllowed(f"operator 'set_variable': {name!r} is not a variable name (letters, digits, _)")
    data[name] = params.get("value")
    return {"name": name}


OPERATORS = {"notify": _notify, "http_post": _http_post, "set_variable": _set_variable}
OPERATOR_NAMES = frozenset(OPERATORS)


def run_operator(name: str, params: dict, data: dict, effects: list, element_id: str = "") -> dict:
    """Run the operator `name` with evaluated parameters on task data; its JSON-able result, or ScriptNotAllowed."""
    operator = OPERATORS.get(name)
    if operator is None:
        raise ScriptNotAllowed(f"service task operator {name!r} is not registered; "
                               f"use one of {', '.join(sorted(OPERATOR_NAMES))}")
    # SpiffWorkflow hands each parameter as {"value": ..., "type": ...}; the value is what the expression gave.
    values = {key: (p.get("value") if isinstance(p, dict) and "value" in p else p) for key, p in params.items()}
    return operator(values, data, effects, element_id)


def pending_effects(workflow) -> list[Effect]:
    """The effects noted so far on a workflow (its top workflow holds them), created empty on first use."""
    top = getattr(workflow, "top_workflow", workflow)
    effects = getattr(top, _EFFECTS_ATTRIBUTE, None)
    if effects is None:
        effects = []
        setattr(top, _EFFECTS_ATTRIBUTE, effects)
    return effects


def take_effects(workflow) -> list[Effect]:
    """Remove and return the effects noted on a workflow."""
    effects = list(pending_effects(workflow))
    pending_effects(workflow).clear()
    return effects


def _user(s: Session, value) -> User | None:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return s.get(User, int(value))
    return s.scalars(select(User).where(User.username == str(value))).first()


def _endpoint(s: Session, value) -> WebhookEndpoint | None:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return s.scalars(stmt.where(WebhookEndpoint.id == int(value))).first()
    found = list(s.scalars(stmt.where(WebhookEndpoint.name == str(value)).limit(2)))
    return found[0] if len(found) == 1 else None


def write_effects(s: Session, now: datetime, instance: ProcessInstance, effects: list[Effect]) -> None:
    """Queue the effects of one advance in its transaction (WorkflowFailed names the element when one cannot go)."""
    for effect in effects:
        where = f"service task {effect.element_id!r} ({effect.operator})"
        params = effect.params
        if effect.operator == "notify":
            payload = {"name": params["title"], "body": params["message"], "reason": params["message"],
                       "instance_id": instance.id,
                       "element_id": effect.element_id}
            if params["user"] not in (None, ""):
                user = _user(s, params["user"])
                if user is None or not user.active:
                    raise WorkflowFailed(f"{where}: no active user {params['user']!r} to notify",
                                         element_id=effect.element_id)
                enqueue(s, now, "process_notice", payload, user_id=user.id)
            else:
                enqueue(s, now, "process_notice", payload, role=params["role"],
                        org_id=int(params["org_id"]) if params["org_id"] is not None else None)
        elif effect.operator == "http_post":
            endpoint = _endpoint(s, params["endpoint"])
            if endpoint is None:
                raise WorkflowFailed(f"{where}: {params['endpoint']!r} is not an active webhook endpoint "
                                     "(an administrator adds allowed endpoints: rectiflow webhook add)",
                                     element_id=effect.element_id)
            enqueue(s, now, "process_http_post",
                    {"name": effect.element_id, "body": params["body"], "instance_id": instance.id,
                     "element_id": effect.element_id, "endpoint_id": endpoint.id},
                    org_id=endpoint.org_id, channel="webhook")
