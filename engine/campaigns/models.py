"""Campaigns (专项整治): checklist templates, campaigns and their units, item results, messages between instances,
and 应发现未发现 accountability records."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.infra.db import Base, JSONType, UTCDateTime
from engine.org.models import OrgNode
from engine.rectification.models import Hazard

ITEM_RESULTS = ("checked", "na", "hazard")
CHECK_METHODS = ("查阅资料", "现场查看", "问询谈话")


class ChecklistTemplate(Base):
    """A named checklist (seed 002 attachment 1 layout); items are rows, never workflow data."""

    __tablename__ = "checklist_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    items: Mapped[list["ChecklistItem"]] = relationship(
        back_populates="template", order_by="ChecklistItem.position", cascade="all, delete-orphan")


class ChecklistItem(Base):
    """One line of a checklist: 督查项目, 序号, 督查内容, 督查方法, 责任部门, and where it applies."""

    __tablename__ = "checklist_items"
    __table_args__ = (UniqueConstraint("template_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("checklist_templates.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(100))  # 督查项目
    serial: Mapped[int] = mapped_column(Integer)  # 序号 within the category
    content: Mapped[str] = mapped_column(Text)  # 督查内容
    methods: Mapped[list] = mapped_column(JSONType, default=list)  # 督查方法
    units: Mapped[list] = mapped_column(JSONType, default=list)  # 责任部门 names
    locations: Mapped[list] = mapped_column(JSONType, default=list)  # sites / site types it applies to
    lead_unit: Mapped[str | None] = mapped_column(String(100))  # 牵头部门: the unit that leads the item

    template: Mapped[ChecklistTemplate] = relationship(back_populates="items")


class Campaign(Base):
    """One campaign: its scope, checklist, stage windows, and the process instance that runs it."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="campaign")  # campaign | look_back
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)  # the organising level
    level: Mapped[str] = mapped_column(String(16), index=True)  # school | county | city | province
    template_id: Mapped[int] = mapped_column(ForeignKey("checklist_templates.id"))
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    stages: Mapped[dict] = mapped_column(JSONType, default=dict)  # stage -> {"start":, "end":}; report dates
    # The earliest report date (报送日期) still without its statistics snapshot: the report job reads only
    # campaigns whose date has come (engine/statistics_reports.py), running or already closed.
    next_report_date: Mapped[date | None] = mapped_column(Date, index=True)
    sample_seed: Mapped[int | None] = mapped_column(Integer)  # look-back: the recorded random seed
    sample: Mapped[list] = mapped_column(JSONType, default=list)  # look-back: sampled hazard ids
    # Who carries out 督导检查: the organising school's bureau (bureau) or its 牵头部门 (lead_units, seed 001).
    supervised_by: Mapped[str] = mapped_column(String(16), default="bureau", server_default="bureau")
    # look-back: what the sample was drawn from (source, grade, period, unit, campaign), recorded with the seed
    sample_filters: Mapped[dict | None] = mapped_column(JSONType)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    org: Mapped[OrgNode] = relationship()
    template: Mapped[ChecklistTemplate] = relationship()


class CampaignUnit(Base):
    """One unit in a campaign's scope, with its own self-check instance and sign-off."""

    __tablename__ = "campaign_units"
    __table_args__ = (UniqueConstraint("campaign_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|signed|returned
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_back: Mapped[int] = mapped_column(Integer, default=0)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 安全形势分析报告 (seed 000): written by the unit head in the self-check, collected for the closing summary.
    situation_report: Mapped[str | None] = mapped_column(Text)
    situation_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    situation_report_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    campaign: Mapped[Campaign] = relationship()
    org: Mapped[OrgNode] = relationship()


class ItemResult(Base):
    """A unit's answer to one checklist item: checked (no problem), not applicable, or hazard found."""

    __tablename__ = "item_results"
    __table_args__ = (
        UniqueConstraint("campaign_unit_id", "item_id", "location"),
        Index("ix_item_results_item_result", "item_id", "result"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_unit_id: Mapped[int] = mapped_column(ForeignKey("campaign_units.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_items.id"), index=True)
    location: Mapped[str] = mapped_column(String(200), default="")  # "" = the unit as a whole
    result: Mapped[str] = mapped_column(String(8))
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    item: Mapped[ChecklistItem] = relationship()
    campaign_unit: Mapped[CampaignUnit] = relationship()



class MissedHazard(Base):
    """应发现未发现: a hazard found by a later or higher inspection on an item a lower level signed off as fine."""

    __tablename__ = "missed_hazards"
    __table_args__ = (UniqueConstraint("hazard_id", "item_result_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    item_result_id: Mapped[int] = mapped_column(ForeignKey("item_results.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)  # the campaign that missed it
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)  # the unit that signed it
    level: Mapped[str] = mapped_column(String(16), index=True)  # the missing level
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # who checked it
    signer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who signed the report
    found_level: Mapped[str] = mapped_column(String(16))
    found_by_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)



class SupervisionReport(Base):
    """督查报告: what one supervising office or bureau wrote about one supervised unit in a campaign's 督导检查.

    Read per unit and period (supervision.reports_by_unit) by the year-end assessment (seed 001: 作为各二级学院
    年终考核的一项依据)."""

    __tablename__ = "supervision_reports"
    __table_args__ = (Index("ix_supervision_reports_unit_at", "unit_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))  # the supervised unit or school
    supervisor_org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)  # who supervised
    report: Mapped[str] = mapped_column(Text)
    participants: Mapped[list] = mapped_column(JSONType, default=list)  # departments that took part (联合督查)
    sampled: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"), unique=True)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


OUTCOMES = ("holds", "reopened")  # 整改到位 | 反弹 (found open again)


class LookBackResult(Base):
    """A sampled hazard's re-inspection: holds or reopened, by whom, when, with what evidence."""

    __tablename__ = "look_back_results"
    # Each sampled hazard is re-inspected once per look-back; the constraint also settles two people racing.
    __table_args__ = (UniqueConstraint("campaign_id", "hazard_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list] = mapped_column(JSONType, default=list)  # attachment ids
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)  # the hazard's count after this result
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)  # reopened: new run
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    hazard: Mapped[Hazard] = relationship()

ORGANISER_ROLES = {"security_office", "leader", "supervisor", "admin"}

LEVELS = ("school", "county", "city", "province")
SUPERVISED_BY = ("bureau", "lead_units")
