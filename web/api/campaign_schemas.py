"""marshmallow schemas of the campaign and checklist endpoints (requests refuse unknown fields)."""
from __future__ import annotations

from datetime import date

import marshmallow as ma

from engine.campaigns.checklists import FORMATS
from engine.campaigns.findings import FINDING_SOURCES
from engine.campaigns.models import ITEM_RESULTS, SUPERVISED_BY
from engine.campaigns.phase import PHASES
from engine.campaigns.queries import MISSED_SIDES
from engine.campaigns.service import STAGE_KEYS
from web.api.schemas import (
    FilePart,
    HazardBriefSchema,
    HazardSchema,
    OrgSchema,
    PageArgs,
    PageSchema,
    Strict,
    TaskSchema,
)

_NOT_BLANK = ma.validate.Regexp(r"\S", error="must not be blank")


# -- checklists ------------------------------------------------------------------------------------
class ChecklistUploadArgs(Strict):
    file = FilePart(required=True, metadata={"description": ".csv or .xlsx in seed 002 attachment 1 layout "
                                                          "(督查项目, 序号, 督查内容, 督查方法, 责任部门[, 适用部位])"})
    name = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=200), _NOT_BLANK],
                            metadata={"description": "the new template's name (unique)"})


class ExportArgs(Strict):
    format = ma.fields.String(load_default="xlsx", validate=ma.validate.OneOf(FORMATS))
    extra_columns = ma.fields.Boolean(load_default=False, metadata={
        "description": "also the optional columns 适用部位 and 牵头部门 (attachment 1 has five; a re-import keeps "
                       "them only if exported)"})


class ChecklistSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    source = ma.fields.String(allow_none=True, metadata={"description": "the file it was imported from"})
    created_at = ma.fields.DateTime()
    created_by_id = ma.fields.Integer(allow_none=True)
    item_count = ma.fields.Integer()


class ChecklistPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(ChecklistSchema))


class ChecklistItemSchema(ma.Schema):
    id = ma.fields.Integer()
    position = ma.fields.Integer()
    category = ma.fields.String(metadata={"description": "督查项目"})
    serial = ma.fields.Integer(metadata={"description": "序号 within the category"})
    content = ma.fields.String(metadata={"description": "督查内容"})
    methods = ma.fields.List(ma.fields.String(), metadata={"description": "督查方法"})
    units = ma.fields.List(ma.fields.String(), metadata={"description": "责任部门"})
    locations = ma.fields.List(ma.fields.String(), metadata={"description": "适用部位"})
    lead_unit = ma.fields.String(allow_none=True, metadata={"description": "牵头部门"})


class ChecklistDetailSchema(ChecklistSchema):
    items = ma.fields.List(ma.fields.Nested(ChecklistItemSchema))


# -- campaigns -------------------------------------------------------------------------------------
def _iso_date(value: str) -> None:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ma.ValidationError("must be a date, YYYY-MM-DD") from None


_DATE = {"validate": [ma.validate.Regexp(r"^\d{4}-\d{2}-\d{2}$", error="must be a date, YYYY-MM-DD"), _iso_date]}


class StageWindowArgs(Strict):
    start = ma.fields.String(**_DATE, metadata={
        "format": "date", "description": "YYYY-MM-DD, not after `end`; the stage opens on this day (China time); "
                                         "default: as soon as the flow reaches it"})
    end = ma.fields.String(required=True, **_DATE, metadata={"format": "date", "description": "YYYY-MM-DD"})


class StagesArgs(Strict):
    """The campaign's stages, each with its window: the self-check always, the others only if the campaign has them
    (a stage left out is skipped by the diagram; a start after its end is a 422 naming the stage)."""

    self_check = ma.fields.Nested(StageWindowArgs, required=True, metadata={"description": "自查自纠"})
    joint_inspection = ma.fields.Nested(StageWindowArgs, metadata={"description": "联检联查 (optional stage)"})
    rectification = ma.fields.Nested(StageWindowArgs, metadata={"description": "整改完善 (optional stage)"})
    supervision = ma.fields.Nested(StageWindowArgs, metadata={"description": "督导检查 (optional stage)"})
    report_dates = ma.fields.List(ma.fields.String(**_DATE, metadata={"format": "date"}),
                                  metadata={"description": "统计报送日期, YYYY-MM-DD"})
    situation_report_due = ma.fields.String(**_DATE, metadata={
        "format": "date", "description": "安全形势分析报告 due date, not before the self-check starts; default: the "
                                         "self-check's end"})


class CampaignCreateArgs(Strict):
    title = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=200), _NOT_BLANK])
    template_id = ma.fields.Integer(required=True, metadata={"description": "the checklist"})
    unit_ids = ma.fields.List(ma.fields.Integer(), required=True, metadata={"description": "units in scope"})
    stages = ma.fields.Nested(StagesArgs, required=True)
    org_id = ma.fields.Integer(metadata={"description": "the organising level; default: the caller's school"})
    stage_list = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(STAGE_KEYS)), metadata={
        "description": "the stages the campaign has, self_check among them (run in the order "
                       f"{' → '.join(STAGE_KEYS)}); a stage not listed may not have a window; default: the stages "
                       "given in `stages`"})
    supervised_by = ma.fields.String(load_default="bureau", validate=ma.validate.OneOf(SUPERVISED_BY), metadata={
        "description": "who does 督导检查: bureau (the school's bureau, or the organising bureau itself: one task per "
                       "school) or lead_units (a school's own campaign: each 牵头部门 its checklist names supervises "
                       "each college, one task and one 督查报告 per pair)"})
    whole_schools = ma.fields.Boolean(load_default=False, metadata={
        "description": "organised above a school: each school (or bureau) in unit_ids stands for its active units, "
                       "each self-checking and reviewed by its own school's security office; default: each school "
                       "self-checks as one unit"})


class LookBackFiltersArgs(Strict):
    source = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                            validate=ma.validate.Length(min=1, max=50),
                            metadata={"description": "where the hazards were found (self_check, patrol, ...)"})
    grade = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                           validate=ma.validate.Length(min=1, max=50), metadata={"description": "general, major"})
    category = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                              validate=ma.validate.Length(min=1, max=50))
    closed_from = ma.fields.Date(metadata={"description": "closed (销号) on or after this day (China time)"})
    closed_to = ma.fields.Date(metadata={"description": "closed (销号) on or before this day"})
    unit_ids = ma.fields.List(ma.fields.Integer(), validate=ma.validate.Length(min=1, max=50), metadata={
        "description": "hazards of these units; a school or bureau stands for everything below it"})
    campaign_id = ma.fields.Integer(metadata={"description": "hazards found in this campaign"})


class LookBackCreateArgs(Strict):
    title = ma.fields.String(load_default="回头看", validate=[ma.validate.Length(min=1, max=200), _NOT_BLANK])
    template_id = ma.fields.Integer(required=True, metadata={"description": "the checklist the units work through"})
    org_id = ma.fields.Integer(metadata={"description": "sample closed hazards under this org; default: your school"})
    sample_size = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=1000))
    seed = ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "reproduce an earlier draw; default: a fresh random seed"})
    unit_ids = ma.fields.List(ma.fields.Integer(), metadata={"description": "default: the sampled hazards' units"})
    stages = ma.fields.Nested(StagesArgs, required=True)
    filters = ma.fields.Nested(LookBackFiltersArgs, metadata={
        "description": "draw only from closed hazards matching all of these; recorded with the seed"})


class CampaignListArgs(PageArgs):
    status = ma.fields.String(metadata={"description": "running or closed"})
    kind = ma.fields.String(validate=ma.validate.OneOf(("campaign", "look_back")))
    level = ma.fields.String(validate=ma.validate.OneOf(("school", "county", "city", "province")))
    org_id = ma.fields.Integer(metadata={"description": "the organising org"})


class UnitListArgs(PageArgs):
    status = ma.fields.String(metadata={"description": "pending, signed, sent_back or returned"})


class MissedArgs(PageArgs):
    side = ma.fields.String(load_default="all", validate=ma.validate.OneOf(MISSED_SIDES), metadata={
        "description": "missed: what this campaign's units missed; found: what its findings exposed; all"})


class CampaignSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "campaign or look_back"})
    org_id = ma.fields.Integer()
    org = ma.fields.Nested(OrgSchema)
    level = ma.fields.String()
    template_id = ma.fields.Integer()
    template_name = ma.fields.String()
    status = ma.fields.String()
    stages = ma.fields.Dict(metadata={"description": "stage → {start, end} for the stages it has; report_dates; "
                                                     "situation_report_due"})
    stage_list = ma.fields.List(ma.fields.String(), metadata={"description": "the stages it has, in order"})
    supervised_by = ma.fields.String(metadata={"description": "bureau or lead_units"})
    sample = ma.fields.List(ma.fields.Integer(), metadata={"description": "look-back: the sampled hazard ids"})
    sample_seed = ma.fields.Integer(allow_none=True, metadata={"description": "look-back: the recorded seed"})
    sample_filters = ma.fields.Dict(allow_none=True, metadata={
        "description": "look-back: the filters the sample was drawn with (as given in filters, dates ISO)"})
    instance_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    created_by_id = ma.fields.Integer(allow_none=True)


class CampaignPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(CampaignSchema))


class CoverageSchema(ma.Schema):
    units = ma.fields.Integer()
    units_complete = ma.fields.Integer()
    units_signed = ma.fields.Integer()
    units_returned = ma.fields.Integer()
    items_required = ma.fields.Integer()
    items_answered = ma.fields.Integer()
    percent = ma.fields.Float()
    hazards = ma.fields.Integer()
    open_hazards = ma.fields.Integer()
    missed = ma.fields.Integer(metadata={"description": "应发现未发现 records this campaign's findings produced"})


class UncoveredItemSchema(ma.Schema):
    id = ma.fields.Integer()
    category = ma.fields.String(metadata={"description": "督查项目"})
    serial = ma.fields.Integer(metadata={"description": "序号"})
    content = ma.fields.String(metadata={"description": "督查内容"})
    units = ma.fields.List(ma.fields.String(), metadata={"description": "责任部门 as written"})
    lead_unit = ma.fields.String(allow_none=True, metadata={"description": "牵头部门"})


class SupervisionReportSchema(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer(metadata={"description": "the supervised unit or school"})
    unit = ma.fields.String()
    supervisor_org_id = ma.fields.Integer()
    supervisor = ma.fields.String()
    report = ma.fields.String(metadata={"description": "督查报告"})
    participants = ma.fields.List(ma.fields.String(), metadata={"description": "departments that took part"})
    sampled = ma.fields.String(allow_none=True)
    at = ma.fields.DateTime()


class CampaignDetailSchema(CampaignSchema):
    current_stage = ma.fields.String(metadata={"description": f"one of {', '.join(PHASES)}: the furthest stage the "
                                                              "campaign's process has reached (closed once it ended)"})
    open_tasks = ma.fields.List(ma.fields.Nested(TaskSchema), metadata={"description": "the campaign's own tasks"})
    unit_tasks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                                metadata={"description": "open tasks of the units' self-checks, per BPMN id"})
    coverage = ma.fields.Nested(CoverageSchema)
    open_hazards = ma.fields.Integer(metadata={"description": "not closed (销号), incl. hazards a look-back reopened"})
    supervision_reports = ma.fields.List(ma.fields.Nested(SupervisionReportSchema), metadata={
        "description": "督查报告 written so far, one per supervisor and supervised unit"})
    uncovered_items = ma.fields.List(ma.fields.Nested(UncoveredItemSchema), metadata={
        "description": "全覆盖 warning: checklist items no unit of the campaign answers (none of them is named)"})


class UnitCoverageSchema(ma.Schema):
    campaign_unit_id = ma.fields.Integer()
    org_id = ma.fields.Integer()
    name = ma.fields.String()
    required = ma.fields.Integer(metadata={"description": "items this unit answers"})
    answered = ma.fields.Integer()
    checked = ma.fields.Integer()
    not_applicable = ma.fields.Integer()
    hazards = ma.fields.Integer()
    percent = ma.fields.Float()
    status = ma.fields.String()
    signed_at = ma.fields.DateTime(allow_none=True)


class UnitCoveragePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(UnitCoverageSchema))


class AnswerSchema(ma.Schema):
    id = ma.fields.Integer()
    location = ma.fields.String(metadata={"description": "\"\" = the unit as a whole"})
    result = ma.fields.String()
    hazard_id = ma.fields.Integer(allow_none=True)
    note = ma.fields.String(allow_none=True)
    by_id = ma.fields.Integer()
    by = ma.fields.String()
    at = ma.fields.DateTime()


class UnitItemSchema(ChecklistItemSchema):
    answers = ma.fields.List(ma.fields.Nested(AnswerSchema))


class UnitItemsSchema(ma.Schema):
    campaign_id = ma.fields.Integer()
    coverage = ma.fields.Nested(UnitCoverageSchema)
    open_tasks = ma.fields.List(ma.fields.Nested(TaskSchema), metadata={"description": "the unit's self-check tasks"})
    items = ma.fields.List(ma.fields.Nested(UnitItemSchema))


class ReportArgs(Strict):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "pdf")),
                              metadata={"description": "json (default), or pdf for the A4 report to print and sign"})


class ReportAnswerSchema(ma.Schema):
    item_id = ma.fields.Integer()
    category = ma.fields.String(metadata={"description": "督查项目"})
    serial = ma.fields.Integer()
    content = ma.fields.String(metadata={"description": "督查内容"})
    result = ma.fields.String(allow_none=True, metadata={"description": "checked | na | hazard; null: not answered"})
    location = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    hazard_id = ma.fields.Integer(allow_none=True)
    by = ma.fields.String(allow_none=True)
    at = ma.fields.DateTime(allow_none=True)


class ReportHazardSchema(ma.Schema):
    id = ma.fields.Integer()
    serial = ma.fields.Integer(metadata={"description": "编号: the hazard's serial within the unit"})
    location = ma.fields.String()
    problem = ma.fields.String()
    grade = ma.fields.String(allow_none=True)
    deadline = ma.fields.Date(allow_none=True)
    status = ma.fields.String()
    closed_at = ma.fields.DateTime(allow_none=True)


class SignatureSchema(ma.Schema):
    user = ma.fields.String(metadata={"description": "the account that signed in the self-check process"})
    signer_name = ma.fields.String(metadata={"description": "主要负责人签字, as typed on the signing form"})
    opinion = ma.fields.String()
    at = ma.fields.DateTime()


class SelfCheckReportSchema(ma.Schema):
    campaign_id = ma.fields.Integer()
    campaign_title = ma.fields.String()
    school = ma.fields.String()
    unit_id = ma.fields.Integer()
    unit = ma.fields.String()
    head = ma.fields.String(metadata={"description": "the unit's head (主要负责人), or empty"})
    status = ma.fields.String()
    required = ma.fields.Integer()
    answered = ma.fields.Integer()
    answers = ma.fields.List(ma.fields.Nested(ReportAnswerSchema))
    hazards = ma.fields.List(ma.fields.Nested(ReportHazardSchema))
    signature = ma.fields.Nested(SignatureSchema, allow_none=True, metadata={"description": "null until signed"})


class ResultRowArgs(Strict):
    item_id = ma.fields.Integer(required=True)
    result = ma.fields.String(required=True, validate=ma.validate.OneOf(ITEM_RESULTS))
    location = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))
    hazard = ma.fields.Dict(metadata={"description": "for result=hazard: the report form's fields (problem, category, "
                                                     "location, checked_at, remarks, ...)"})


class ResultsArgs(Strict):
    results = ma.fields.List(ma.fields.Nested(ResultRowArgs), required=True,
                             validate=ma.validate.Length(min=1, max=1000))


class ResultsSchema(ma.Schema):
    result_ids = ma.fields.List(ma.fields.Integer())
    hazard_ids = ma.fields.List(ma.fields.Integer(), metadata={"description": "hazards started by these answers"})
    coverage = ma.fields.Nested(UnitCoverageSchema)


class FindingArgs(Strict):
    unit_id = ma.fields.Integer(required=True, metadata={"description": "the unit where it was found"})
    item_id = ma.fields.Integer(metadata={"description": "the checklist item (enables 应发现未发现)"})
    source = ma.fields.String(required=True, validate=ma.validate.OneOf(FINDING_SOURCES))
    location = ma.fields.String(required=True, metadata={"description": "部位"})
    problem = ma.fields.String(required=True, metadata={"description": "存在隐患问题"})
    category = ma.fields.String(required=True)
    checked_at = ma.fields.String(metadata={"description": "检查时间, YYYY-MM-DD"})
    remarks = ma.fields.String()


class MissedHazardBriefSchema(HazardBriefSchema):
    check_item = ma.fields.String(allow_none=True)


class MissedSchema(ma.Schema):
    id = ma.fields.Integer()
    hazard_id = ma.fields.Integer()
    item_result_id = ma.fields.Integer()
    campaign_id = ma.fields.Integer(metadata={"description": "the campaign whose self-check missed it"})
    org_id = ma.fields.Integer(metadata={"description": "the unit that signed the item off as fine"})
    org = ma.fields.String()
    level = ma.fields.String(metadata={"description": "the level that missed it"})
    person_id = ma.fields.Integer()
    person = ma.fields.String(metadata={"description": "who checked the item"})
    signer_id = ma.fields.Integer(allow_none=True)
    signer = ma.fields.String(allow_none=True, metadata={"description": "who signed the self-check report"})
    found_level = ma.fields.String()
    found_by_campaign_id = ma.fields.Integer(allow_none=True)
    recorded_at = ma.fields.DateTime()
    hazard = ma.fields.Nested(MissedHazardBriefSchema)


class MissedPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(MissedSchema))


class FindingSchema(ma.Schema):
    hazard = ma.fields.Nested(HazardSchema)
    missed = ma.fields.List(ma.fields.Nested(MissedSchema), metadata={
        "description": "应发现未发现 records this finding produced"})
