"""Tables of the process core: definitions, instances, tasks, events, outbox, messages, deadlines, notifications."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.infra.db import Base, JSONType, UTCDateTime
from engine.org.models import User
from engine.process.states import InstanceState, TaskState, check_clause


class Deployment(Base):
    """One deployment of a bundle: who, when, what it changed, and the files it brought (definition_files)."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    # The deployer asked to replace processes with running instances (or a contract); see the deploy verb.
    replace: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lanes or candidate groups that are not role codes -> a role (key "*" is the default), given at deploy.
    role_map: Mapped[dict] = mapped_column(JSONType, default=dict)


class DefinitionFile(Base):
    """One file of a deployed bundle (diagram, decision table, form), kept as it was uploaded."""

    __tablename__ = "definition_files"
    __table_args__ = (UniqueConstraint("deployment_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class ProcessDefinition(Base):
    """One deployed version of a BPMN process; the parsed spec is stored once here, not in each instance."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # Large and rarely needed once the spec is cached in memory: loaded only when read.
    source_xml: Mapped[str] = mapped_column(Text, deferred=True)
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    forms: Mapped[dict] = mapped_column(JSONType, default=dict)
    task_meta: Mapped[dict] = mapped_column(JSONType, default=dict)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The bundle this version came from (NULL for versions deployed before bundles: their file is source_xml).
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), index=True)
    # The file of the bundle holding this process, and each deployed callee -> the version its call activity runs.
    filename: Mapped[str | None] = mapped_column(String(300))
    callees: Mapped[dict | None] = mapped_column(JSONType, default=dict)

    # The lane/candidate-group → role map given at deploy ({"Reviewers": "security_office", "*": "leader"}).
    role_map: Mapped[dict | None] = mapped_column(JSONType)
    # What this deployment changed against the previous version (engine.process.replacing.change_summary), and
    # whether it replaced a live process (running instances or a subject's contract), or took a shipped process's
    # id, on an administrator's explicit `replace`.
    change_summary: Mapped[str | None] = mapped_column(Text)
    replaced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    deployed_by: Mapped[User | None] = relationship(foreign_keys=[deployed_by_id], lazy="joined")

    deployment: Mapped[Deployment | None] = relationship()


class ProcessInstance(Base):
    __tablename__ = "process_instances"
    __table_args__ = (CheckConstraint(check_clause("status", InstanceState), name="ck_process_instances_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=InstanceState.RUNNING)
    state_json: Mapped[str] = mapped_column(Text)
    # Earliest pending BPMN timer: the timer sweep reads only rows with next_timer_at <= now.
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who started it (lane-less user tasks go to them); None for a timer or a message from outside.
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revision: Mapped[int] = mapped_column(Integer, default=1)

    definition: Mapped[ProcessDefinition] = relationship()

    __mapper_args__ = {"version_id_col": revision}



class HumanTask(Base):
    """The inbox projection of one ready BPMN user task."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        UniqueConstraint("instance_id", "spiff_task_id"),
        Index("ix_human_tasks_assignee_state", "assignee_id", "state"),
        Index("ix_human_tasks_candidates", "candidate_role", "candidate_org_id", "state"),
        Index("ix_human_tasks_state_due", "state", "due_at"),
        CheckConstraint(check_clause("state", TaskState), name="ck_human_tasks_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str | None] = mapped_column(String(16))
    candidate_role: Mapped[str | None] = mapped_column(String(32))
    candidate_org_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # Camunda's followUpDate
    priority: Mapped[int] = mapped_column(Integer, default=50)
    state: Mapped[str] = mapped_column(String(16), default=TaskState.READY)
    form: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Deadline policy state: how many steps of the reminder/overdue/escalation schedule are done, and when the
    # next one is due (the sweep reads only rows with next_escalation_at <= now).
    escalation_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    instance: Mapped[ProcessInstance] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    # Further candidates besides (candidate_role, candidate_org_id): named users and other groups.
    candidates: Mapped[list["TaskCandidate"]] = relationship(back_populates="task", lazy="selectin",
                                                             cascade="all, delete-orphan")


class TaskCandidate(Base):
    """One more person or group a task is offered to (Camunda's candidateUsers, a second candidate group)."""

    __tablename__ = "task_candidates"
    __table_args__ = (
        Index("ix_task_candidates_user", "user_id", "task_id"),
        Index("ix_task_candidates_group", "role", "org_id", "task_id"),
        CheckConstraint("(user_id IS NOT NULL) OR (role IS NOT NULL AND org_id IS NOT NULL)",
                        name="ck_task_candidates_who"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str | None] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))

    task: Mapped[HumanTask] = relationship(back_populates="candidates")


class Event(Base):
    """Append-only audit log: who did what, when, with which data.

    The database refuses UPDATE and DELETE (triggers, migration 0021) except sealing: engine/process/audit.py sets
    `prev_hash` and `hash` once, chaining each event's hash to the one before it so tampering is detectable."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_unsealed", "id", sqlite_where=text("hash IS NULL"),
                            postgresql_where=text("hash IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"))
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))  # NULL until sealed; the chain's start: 64 zeros
    hash: Mapped[str | None] = mapped_column(String(64))  # sha256(prev_hash || canonical JSON of the row)


class OutboxMessage(Base):
    """A notification written in the same transaction as its cause; delivered after commit."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    recipient_role: Mapped[str | None] = mapped_column(String(32))
    recipient_org_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    channel: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProcessMessage(Base):
    """A BPMN message thrown by one instance and routed to another (audit trail and delivery queue)."""

    __tablename__ = "process_messages"
    __table_args__ = (
        Index("ix_process_messages_status_id", "status", "id"),
        Index("ix_process_messages_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    correlation: Mapped[str] = mapped_column(String(200), default="", index=True)
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    sender_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    target_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|started|unmatched|failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A failed delivery waits until then before the next try (messaging.deliver_pending reads only due rows).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class MessageSubscription(Base):
    """An instance waiting for a message with a correlation, kept in step with its catch events after each advance."""

    __tablename__ = "message_subscriptions"
    __table_args__ = (
        # One row per conversation: each multi-instance child's receive waits for its own answer.
        UniqueConstraint("instance_id", "name", "correlation", name="uq_message_subscriptions_instance_name_corr"),
        Index("ix_message_subscriptions_name_corr", "name", "correlation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    correlation: Mapped[str] = mapped_column(String(200), default="")

CALENDAR_DAY_KINDS = ("holiday", "workday")


class CalendarDay(Base):
    """An organisation's own holiday or make-up working day (调休), overriding the shipped national calendar."""

    __tablename__ = "calendar_days"
    __table_args__ = (UniqueConstraint("org_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")


class TaskEscalation(Base):
    """One level of the escalation ladder that received an overdue task (its "escalated to me" view)."""

    __tablename__ = "task_escalations"
    __table_args__ = (
        UniqueConstraint("task_id", "rung"),
        Index("ix_task_escalations_target", "target_role", "target_org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    # unit_head, security_office, leader or supervisor; each rung receives a task once
    rung: Mapped[str] = mapped_column(String(32))
    target_role: Mapped[str | None] = mapped_column(String(32))
    target_org_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

CHANNELS = ("inapp", "email", "webhook")

DELIVERY_MODES = ("immediate", "digest", "off")


class InAppNotification(Base):
    """One message in a user's bell; unique per outbox row so a retry never shows it twice."""

    __tablename__ = "inapp_notifications"
    __table_args__ = (Index("ix_inapp_user_read", "user_id", "read_at"),
                      Index("ix_inapp_subject", "subject_id", "subject_kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))  # a site path, for rows with no subject (older rows)
    # What the message is about, e.g. ("task", 12) or ("hazard", 3); the web layer turns it into a URL.
    subject_kind: Mapped[str | None] = mapped_column(String(64))  # as long as `kind`: a subject registers it
    subject_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationPreference(Base):
    """Which events reach a user by which channel: immediately, in the daily digest, or not at all."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "event_kind", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    event_kind: Mapped[str] = mapped_column(String(64))  # an outbox kind, or "*" for every kind
    channel: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16), default="immediate")


class WebhookEndpoint(Base):
    """A group robot (WeCom/DingTalk style) that receives the events addressed to one organisation."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    style: Mapped[str] = mapped_column(String(16), default="wecom")  # wecom | dingtalk | json
    url: Mapped[str] = mapped_column(String(500))
    event_kinds: Mapped[list] = mapped_column(JSONType, default=list)  # empty: every kind
    active: Mapped[bool] = mapped_column(Boolean, default=True)


INCIDENT_KINDS = ("task", "timer", "message", "start")
INCIDENT_STATES = ("open", "resolved")


class Incident(Base):
    """A step of an instance that failed at run time (a script, condition, DMN or service task), kept for an operator.

    `kind` says which step: completing a user task (`task`, resolved when the task completes), a timer (`timer`),
    a deferred message delivery (`message`) or the engine steps after a message started the instance (`start`).
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_instance", "status", "instance_id"),
        CheckConstraint("status IN ('open', 'resolved')", name="ck_incidents_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("process_messages.id"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    element_id: Mapped[str | None] = mapped_column(String(100))
    element_name: Mapped[str | None] = mapped_column(String(200))
    variable: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    # What the user submitted when a task's completion failed: a retry submits it again for them.
    form_data: Mapped[dict | None] = mapped_column(JSONType)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    failures: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    instance: Mapped[ProcessInstance] = relationship()
