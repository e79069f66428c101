"""The persistent domain: organisation tree, users, hazards, process definitions, instances, tasks, events, outbox."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..db import JSONType, UTCDateTime

ORG_KINDS = ("province", "city", "county", "school", "unit", "grid")

ROLES = (
    "department_staff",
    "grid_officer",
    "department_head",
    "security_office",
    "inspector",
    "leader",
    "supervisor",
    "process_designer",
    "admin",
)


class Base(DeclarativeBase):
    pass


class OrgNode(Base):
    """A node of the organisation tree: province → city → county → school → unit → grid."""

    __tablename__ = "org_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    # Materialised path "/1/4/9/" so "everything under X" is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(512), index=True, default="/")
    head_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, name="fk_org_head_user"), nullable=True
    )

    parent: Mapped["OrgNode | None"] = relationship(remote_side=[id])

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this node, inclusive."""
        return [int(part) for part in self.path.strip("/").split("/") if part]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    org: Mapped[OrgNode] = relationship(foreign_keys=[org_id])
    grants: Mapped[list["RoleGrant"]] = relationship(back_populates="user", lazy="selectin")


class RoleGrant(Base):
    """A user holds `role` for the org node `org_id` (and, for reading, what lies below it)."""

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "org_id"),
        Index("ix_role_grants_role_org", "role", "org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))

    user: Mapped[User] = relationship(back_populates="grants")


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


class ProcessInstance(Base):
    __tablename__ = "process_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="running")
    state_json: Mapped[str] = mapped_column(Text)
    # Earliest pending BPMN timer: the timer sweep reads only rows with next_timer_at <= now.
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=1)

    definition: Mapped[ProcessDefinition] = relationship()

    __mapper_args__ = {"version_id_col": revision}


class Hazard(Base):
    """A hazard: the ledger row of seed 002 attachment 2 plus grading, plan and process status."""

    __tablename__ = "hazards"
    __table_args__ = (UniqueConstraint("unit_id", "unit_serial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    unit_serial: Mapped[int] = mapped_column(Integer)  # 序号 within the responsible unit
    location: Mapped[str] = mapped_column(String(200))  # 部位
    check_item: Mapped[str | None] = mapped_column(String(500))  # 检查内容
    problem: Mapped[str] = mapped_column(Text)  # 存在隐患问题
    measures: Mapped[str | None] = mapped_column(Text)  # 整改措施
    completion: Mapped[str | None] = mapped_column(Text)  # 整改完成情况
    responsible_person: Mapped[str | None] = mapped_column(String(100))  # 责任人
    checked_at: Mapped[date | None] = mapped_column(Date)  # 检查时间
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # 销号时间
    remarks: Mapped[str | None] = mapped_column(Text)  # 备注
    category: Mapped[str] = mapped_column(String(32), index=True)
    grade: Mapped[str | None] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(32), index=True)
    deadline: Mapped[date | None] = mapped_column(Date, index=True)
    plan_owner: Mapped[str | None] = mapped_column(String(100))
    plan_measures: Mapped[str | None] = mapped_column(Text)
    plan_deadline: Mapped[date | None] = mapped_column(Date)
    plan_contingency: Mapped[str | None] = mapped_column(Text)
    plan_funds: Mapped[str | None] = mapped_column(String(200))
    temporary_measures: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True, default="discover")
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # 回头看: times a look-back found this closed hazard open again (反弹), and the last time (engine/look_back.py).
    repeat_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    unit: Mapped[OrgNode] = relationship(foreign_keys=[unit_id])


class HumanTask(Base):
    """The inbox projection of one ready BPMN user task."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        UniqueConstraint("instance_id", "spiff_task_id"),
        Index("ix_human_tasks_assignee_state", "assignee_id", "state"),
        Index("ix_human_tasks_candidates", "candidate_role", "candidate_org_id", "state"),
        Index("ix_human_tasks_state_due", "state", "due_at"),
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
    priority: Mapped[int] = mapped_column(Integer, default=50)
    state: Mapped[str] = mapped_column(String(16), default="ready")
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
    hazard: Mapped[Hazard | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])


class Event(Base):
    """Append-only audit log: who did what, when, with which data."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"))
    data: Mapped[dict] = mapped_column(JSONType, default=dict)


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
