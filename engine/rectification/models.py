"""What people add around a hazard: evidence files, comments, saved inbox filters, API tokens."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.infra.db import Base, JSONType, UTCDateTime
from engine.org.models import OrgNode, User
from engine.process.models import HumanTask


class Attachment(Base):
    """One evidence file (photo or document) of a hazard; the bytes live on disk under `storage_key`."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed from the bytes, not the client's claim
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    uploaded_by: Mapped[User] = relationship()


class Comment(Base):
    """A remark on a hazard, optionally made while working one of its tasks."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship()



# "Everything under org X" is `path LIKE '/1/4/%'`; PostgreSQL uses a b-tree for LIKE prefixes only with
# pattern ops (unless the database collation is C). On SQLite it is a plain second index on the small org table,
# kept so the schema is the same on both backends.
Index("ix_org_nodes_path_pattern", Base.metadata.tables["org_nodes"].c.path,
      postgresql_ops={"path": "varchar_pattern_ops"})


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
    # A finding entered after the day it was found (a paper inspection typed in later): the start of its 检查时间,
    # from when the statistics count it; null when it was reported on the day it was found (reported_at counts).
    found_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
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
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # "my reports" in every list
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    unit: Mapped[OrgNode] = relationship(foreign_keys=[unit_id])


class NoticeCounter(Base):
    """The next free notice number of one school in one year; its row is locked while a number is taken."""

    __tablename__ = "notice_counters"
    __table_args__ = (UniqueConstraint("school_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    year: Mapped[int] = mapped_column(Integer)
    next_seq: Mapped[int] = mapped_column(Integer, default=1)


class RectificationNotice(Base):
    """A 隐患整改通知书 as issued: its number, addressee, deadline and a snapshot of what it says."""

    __tablename__ = "rectification_notices"
    __table_args__ = (
        # The backstop behind the counter: a number is never given twice.
        UniqueConstraint("school_id", "year", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    year: Mapped[int] = mapped_column(Integer, index=True)  # China-time year of issuing
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(300))  # e.g. "某职业学院〔2026〕整改第 003 号"
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)  # to whom
    deadline: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What the notice says, frozen when issued: later edits of the hazard do not rewrite a served notice. When its
    # deadline or 临时处置措施 change it is re-issued: same number, the next revision (第2版), and every version,
    # this one included, is kept in rectification_notice_revisions.
    content: Mapped[dict] = mapped_column(JSONType, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    hazard: Mapped[Hazard] = relationship()
    unit: Mapped[OrgNode] = relationship(foreign_keys=[unit_id])
    school: Mapped[OrgNode] = relationship(foreign_keys=[school_id])


class NoticeRevision(Base):
    """One version of a notice as it was served (第N版): kept unchanged when the notice is re-issued."""

    __tablename__ = "rectification_notice_revisions"
    __table_args__ = (UniqueConstraint("notice_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("rectification_notices.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    content: Mapped[dict] = mapped_column(JSONType, default=dict)


# The core's task rows carry the hazard they belong to; the relationship is the subject's, not the core's.
HumanTask.hazard = relationship(Hazard, foreign_keys=[HumanTask.hazard_id])
