"""Messages from outside the engine (an API client, a script): check, correlate, route through messaging.py.

A message from outside goes through the same routing as one a diagram throws (`messaging.route_message`): a
process whose start event catches it starts a new instance, otherwise every instance subscribed to that name
with the same correlation catches it. Nothing catches it: NotFound, and nothing is stored.

Correlation. SpiffWorkflow correlates by correlation keys: a message carries `{key: {property: value}}`
(e.g. `{"MainCorrelationKey": {"uid": 1}}`), and a waiting instance's subscription holds the same text for
the keys its catch event uses (`messaging.waiting_messages`). A sender may give
* that full form;
* the properties alone, `{"uid": 1}`: each is put under the correlation keys that use it in the processes
  catching this message;
* nothing: the properties are read from the payload with the diagrams' correlationPropertyRetrievalExpression
  for this message, as SpiffWorkflow does when a diagram throws it (none: the empty correlation).
Either way the payload must carry each property the catching diagrams read from it (SpiffWorkflow reads them
again on catch), with the same value: otherwise 422 naming it.

A process the message starts gets the sender's organisation on its start (starter_id, org_id, school_id,
bureau_id), as `Services.start_process` gives it, so its lanes find their candidates.

Who may send: process designers and administrators, or a role listed in the process property
`messageSenderRoles` (comma-separated) of every process that takes the message; never to an instance whose
business key names a registered subject (`hazard:3`: it moves through its subject's own verbs). Organisation
scope: an instance started with an organisation (its start data's `school_id`) takes messages only from senders
of that school or above it (404 to others, as for anything outside one's scope). The checks run after routing, in
the same transaction, so a refused message leaves nothing behind.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from sqlalchemy import select

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound, WorkflowFailed
from engine.org import accounts
from engine.org.models import OrgNode
from engine.org.scope import can_view_org
from engine.process.deadlines import process_properties
from engine.process.events import record_event
from engine.process.messaging import correlation_text, route_message
from engine.process.models import ProcessDefinition, ProcessInstance
from engine.process.scripting import evaluate_expression

SENDER_PROPERTY = "messageSenderRoles"
DEFAULT_SENDERS = frozenset({"process_designer", "admin"})  # as services.DESIGNER_ROLES
MAX_NAME = 100
# (key, sha256, message) -> (correlation properties catching it, properties its catches set on their process)
_properties: dict[tuple[str, str, str], tuple[list, list]] = {}


@dataclass(frozen=True)
class MessageResult:
    """What a message from outside did."""

    message_id: int
    name: str
    correlation: dict
    status: str  # started | delivered | pending (deferred delivery)
    started_instance_ids: list[int] = field(default_factory=list)
    delivered_instance_ids: list[int] = field(default_factory=list)


def sender_roles(definition: ProcessDefinition) -> set[str]:
    """Roles that may send messages to a process: `messageSenderRoles`, plus designers and administrators."""
    listed = process_properties(definition).get(SENDER_PROPERTY) or ""
    return {r.strip() for r in listed.split(",") if r.strip()} | set(DEFAULT_SENDERS)


def _catching_properties(runtime, definition: ProcessDefinition, name: str, process: bool = False) -> list:
    """The correlation properties of the definition's events for message `name`; with `process`, those its catch
    events set on their process instead (spiffworkflow:processVariableCorrelation, read from the process data)."""
    cache_key = (definition.key, definition.sha256, name)
    cached = _properties.get(cache_key)
    if cached is None:
        spec, subprocess_specs = runtime.specs_for(definition)
        cached = ([], [])
        for sp in (spec, *subprocess_specs.values()):
            for ts in sp.task_specs.values():
                ed = getattr(ts, "event_definition", None)
                for d in getattr(ed, "event_definitions", None) or [ed]:
                    if isinstance(d, MessageEventDefinition) and d.name == name:
                        cached[0].extend(d.correlation_properties)
                        cached[1].extend(getattr(d, "process_correlations", None) or [])
        _properties[cache_key] = cached
    return cached[1] if process else cached[0]


def correlation_properties(s, runtime, name: str, process: bool = False) -> list:
    """The correlation properties of every deployed process's events for message `name` (latest versions first);
    with `process`, the properties the catch events set on their own process (see `_catching_properties`)."""
    found = []
    for definition in s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key,
                                                                   ProcessDefinition.version.desc())):
        found.extend(_catching_properties(runtime, definition, name, process))
    return found


def _bad(field_name: str, message: str) -> InvalidFormData:
    return InvalidFormData(message, [{"field": field_name, "message": message}])


def normalise_correlation(s, runtime, name: str, correlation, payload: dict) -> dict:
    """The full `{key: {property: value}}` form of a sender's correlation (see the module docstring)."""
    if correlation is not None and not isinstance(correlation, dict):
        raise _bad("correlation", "correlation must be a JSON object")
    if correlation and all(isinstance(v, dict) for v in correlation.values()):
        return correlation
    props = correlation_properties(s, runtime, name)
    full: dict[str, dict] = {}
    if correlation:
        if any(isinstance(v, dict) for v in correlation.values()):
            raise _bad("correlation", "give either {key: {property: value}} or {property: value}, not both")
        keys_of: dict[str, set[str]] = {}
        for prop in (*props, *correlation_properties(s, runtime, name, process=True)):
            keys_of.setdefault(prop.name, set()).update(prop.correlation_keys)
        for prop_name, value in correlation.items():
            if not keys_of.get(prop_name):
                raise _bad("correlation", f"no deployed process correlates message {name!r} by {prop_name!r}")
            for key in keys_of[prop_name]:
                full.setdefault(key, {})[prop_name] = value
        return full
    for prop in props:  # read from the payload, as a diagram throwing the message would
        if any(prop.name in full.get(key, {}) for key in prop.correlation_keys):
            continue
        try:
            value = evaluate_expression(prop.retrieval_expression, payload)
        except Exception:  # noqa: BLE001, S112 - this property is not in the payload
            continue
        for key in prop.correlation_keys:
            full.setdefault(key, {})[prop.name] = value
    return full


def _in_scope(s, runtime, user, instance: ProcessInstance) -> bool:
    """An instance started with an organisation (its start data's school_id) is reached only from that school or
    from above it (a bureau); one without stays open to every permitted sender."""
    school_id = runtime.load(instance.definition, instance.state_json).task_tree.data.get("school_id")
    if school_id is None or can_view_org(s, user, school_id):
        return True
    schools = {accounts.nearest(s, s.get(OrgNode, g.org_id), "school") for g in user.grants}
    return school_id in {school.id for school in schools if school is not None}


def check_payload(s, runtime, name: str, correlations: dict, payload: dict) -> None:
    """The catching diagrams read each correlation property from the payload (SpiffWorkflow does, on catch): it must
    be there and agree with the correlation, or the instance would be correlated by something else."""
    for prop in correlation_properties(s, runtime, name):
        wanted = [correlations[key][prop.name] for key in prop.correlation_keys
                  if prop.name in correlations.get(key, {})]
        if not wanted:
            continue
        try:
            value = evaluate_expression(prop.retrieval_expression, payload)
        except Exception:  # noqa: BLE001 - any failure means the payload does not carry it
            raise _bad("payload", f"the payload must carry {prop.retrieval_expression!r}: the processes catching "
                                  f"{name!r} read correlation property {prop.name!r} from it") from None
        if any(value != w for w in wanted):
            raise _bad("payload", f"the payload gives {prop.name!r} = {value!r}, the correlation {wanted[0]!r}")


def send_message(services, name, correlation, payload, user_id: int) -> MessageResult:
    """Deliver a message from outside (one unit of work); see the module docstring."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise _bad("name", f"a message name is a non-empty text of at most {MAX_NAME} characters")
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise _bad("payload", "payload must be a JSON object")
    business_key = payload.get("business_key")
    if business_key is not None and (not isinstance(business_key, str) or services.hooks.names_subject(business_key)):
        raise _bad("payload/business_key", "business_key must be a text that names no subject (like hazard:3)")
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        user = accounts.get_user(s, user_id)
        correlations = normalise_correlation(s, services.runtime, name, correlation, payload)
        if len(correlation_text(correlations)) > 200:
            raise _bad("correlation", "the correlation is longer than 200 characters of JSON")
        check_payload(s, services.runtime, name, correlations, payload)
        projector = services.projector(s, now, user.id)
        school = accounts.nearest(s, user.org, "school")
        context = {"starter_id": user.id, "org_id": user.org_id, "school_id": school.id if school else None,
                   "bureau_id": school.parent_id if school else None}
        try:
            message, taken = route_message(projector, name, correlations, payload, start_data=context)
        except (NameError, KeyError, TypeError, AttributeError, ValueError) as exc:  # a diagram expression failed
            raise WorkflowFailed(f"message {name!r} could not be taken: {type(exc).__name__}: {exc}") from None
        if not taken:
            raise NotFound(f"nothing catches message {name!r} with correlation {correlation_text(correlations)}: "
                           "no process starts with it and no instance waits for it")
        roles = {g.role for g in user.grants}
        reached = list(s.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(taken))))
        owned = sorted(i.id for i in reached if message.status != "started" and i.business_key
                       and services.hooks.names_subject(i.business_key))
        if owned:  # a hazard's or campaign's run moves through its subject's own verbs, which keep its rows in line
            raise NotAllowed(f"instance {', '.join(map(str, owned))} belongs to a registered subject; "
                             "it takes messages from its own pages and API, not from outside")
        if any(not _in_scope(s, services.runtime, user, i) for i in reached if message.status != "started"):
            raise NotFound(f"nothing catches message {name!r} with correlation {correlation_text(correlations)} "
                           "in your organisation")
        definitions = {i.definition for i in reached}
        refused = sorted(d.key for d in definitions if not sender_roles(d) & roles)
        if refused:
            raise NotAllowed(f"you may not send message {name!r} to {', '.join(refused)} "
                             f"(its `{SENDER_PROPERTY}`)")
        started = taken if message.status == "started" else []
        delivered = [] if started else taken
        record_event(s, now, "MessageReceived", user.id, instance_id=taken[0] if len(taken) == 1 else None,
                     name=name, correlation=correlations, message_id=message.id, started=started,
                     delivered=delivered)
        uow.commit()
        status = "started" if started else ("pending" if message.status == "pending" else "delivered")
        return MessageResult(message.id, name, correlations, status, started, delivered)
