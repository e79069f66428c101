"""marshmallow schemas: what the API accepts and returns (and what the OpenAPI document says it does)."""
from __future__ import annotations

import json

import marshmallow as ma
from flask_smorest.fields import Upload
from werkzeug.datastructures import FileStorage

from engine.infra.config import DEFAULT_BPMN_DIR
from engine.rectification.comments import MAX_COMMENT_CHARS
from engine.rectification.visibility import HAZARD_SORTS, TASK_VIEWS
from web.bundle_uploads import json_object

MAX_INT = 2**31 - 1  # the database's INTEGER (PostgreSQL int4): ids, pages and counts beyond it are refused


class Bounded(ma.Schema):
    """Request schemas whose integers stay in the database's range, so a huge id is a 422, never a 500.

    An Integer field (or a list of them) without an upper bound gets Range(1, MAX_INT) when it is bound, which
    the OpenAPI document states as minimum/maximum; fields that need other bounds declare their own Range.
    """

    def on_bind_field(self, field_name, field_obj):
        for field in (field_obj, getattr(field_obj, "inner", None)):
            if isinstance(field, ma.fields.Integer) and not any(
                    isinstance(v, ma.validate.Range) and v.max is not None for v in field.validators):
                low = None if any(isinstance(v, ma.validate.Range) and v.min is not None
                                  for v in field.validators) else 1
                field.validators = [*field.validators, ma.validate.Range(min=low, max=MAX_INT)]


class Strict(Bounded):
    """Request schemas refuse unknown fields, so a misspelt parameter is an error, not a silent no-op."""

    class Meta:
        unknown = ma.RAISE


class PageArgs(Strict):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class HazardFilterArgs(PageArgs):
    unit_id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    category = ma.fields.String()
    grade = ma.fields.String()
    status = ma.fields.String()
    campaign_id = ma.fields.Integer()
    source = ma.fields.String()


class HazardListArgs(HazardFilterArgs):
    reported_from = ma.fields.Date(metadata={"description": "China date, inclusive"})
    reported_to = ma.fields.Date(metadata={"description": "China date, inclusive"})
    q = ma.fields.String(validate=ma.validate.Length(max=100),
                         metadata={"description": "search: 部位, 检查内容, 问题 or 责任人 contains it, or it is the "
                                                  "hazard's number (`12` or `#12`)"})
    overdue = ma.fields.Boolean(metadata={"description": "only hazards with an open task past its due time (the "
                                                         "statistics table's 逾期未整改)"})
    open = ma.fields.Boolean(metadata={"description": "only hazards not closed (未销号)"})
    sort = ma.fields.String(load_default="reported", validate=ma.validate.OneOf(HAZARD_SORTS),
                            metadata={"description": "reported (newest first), deadline (soonest first, none last) "
                                                     "or unit (as the ledger numbers them)"})


class TaskListArgs(HazardFilterArgs):
    view = ma.fields.String(load_default="mine", validate=ma.validate.OneOf(TASK_VIEWS),
                            metadata={"description": "mine, groups (claimable), overdue, or all open tasks in scope"})
    process = ma.fields.String(metadata={"description": "only tasks of this process (its key)"})
    cursor = ma.fields.String(metadata={"description": "keyset paging: the next_cursor of the previous page "
                                                       "(then `page` is ignored); only with sort=due"})
    q = ma.fields.String(validate=ma.validate.Length(max=100), data_key="q", attribute="text", metadata={
        "description": "search: the task's name, or its hazard's 部位, 检查内容, 问题, 责任人 or number"})
    sort = ma.fields.String(load_default="due", validate=ma.validate.OneOf(("due", "priority", "age")), metadata={
        "description": "due (most urgent first), priority (highest first) or age (oldest first)"})


class LedgerArgs(Strict):
    unit_id = ma.fields.Integer(required=True, metadata={"description": "a unit, or a school for all its units"})
    status = ma.fields.String(metadata={"description": "open, closed, or a lifecycle stage"})
    category = ma.fields.String()
    grade = ma.fields.String()
    date_from = ma.fields.Date()
    date_to = ma.fields.Date()


class DelegateArgs(Strict):
    to_user_id = ma.fields.Integer(required=True)
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class CompleteArgs(Strict):
    data = ma.fields.Dict(load_default=dict, metadata={
        "description": "the task's form, per its JSON Schema; a property of format `evidence` (e.g. rectify's "
                       "`photos`) takes the ids of files uploaded first with POST /hazards/{id}/attachments"})


def _shipped_report_form() -> dict:
    """The properties of the shipped report form (bpmn/forms/report_hazard.json), for the OpenAPI document."""
    try:
        return json.loads((DEFAULT_BPMN_DIR / "forms" / "report_hazard.json").read_text(encoding="utf-8"))["properties"]
    except (OSError, ValueError, KeyError):  # an installation without the shipped diagrams: nothing to state
        return {}


_REPORT_FORM = _shipped_report_form()


def _as_documented(name: str, description: str | None = None) -> dict:
    """metadata stating the shipped form's rule for one field (enum, lengths, format) in the OpenAPI document.

    Only stated: the deployed form's JSON Schema still decides (a designer may deploy another), and its
    refusal is the 422 that names the field."""
    rule = _REPORT_FORM.get(name, {})
    metadata = {key: rule[key] for key in ("minLength", "maxLength", "format") if key in rule}
    if "oneOf" in rule:
        metadata["enum"] = [option["const"] for option in rule["oneOf"]]
    if description or rule.get("title"):
        metadata["description"] = description or rule["title"]
    return metadata


class HazardReportArgs(Bounded):
    """The report form's fields; the deployed form's JSON Schema is the authority and names bad fields."""

    class Meta:
        unknown = ma.INCLUDE

    location = ma.fields.String(required=True, metadata=_as_documented("location"))
    check_item = ma.fields.String(metadata=_as_documented("check_item"))
    problem = ma.fields.String(required=True, metadata=_as_documented("problem"))
    category = ma.fields.String(required=True, metadata=_as_documented("category"))
    source = ma.fields.String(required=True, metadata=_as_documented("source"))
    checked_at = ma.fields.String(metadata=_as_documented(
        "checked_at", "检查时间, YYYY-MM-DD: the day of the inspection; a past day records a finding entered later "
                      "(statistics count it in the period of that day), a future day is refused (422)"))
    remarks = ma.fields.String(metadata=_as_documented("remarks"))
    school_id = ma.fields.Integer(metadata={"description": "report for another school in your scope"})


class CommentArgs(Strict):
    body = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=MAX_COMMENT_CHARS),
                                                     ma.validate.Regexp(r"\S", error="must not be blank")])
    task_id = ma.fields.Integer(load_default=None)


class FilePart(Upload):
    """A multipart file part; a text field of the same name is refused (422), not read as a file."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ma.ValidationError("must be a file part (multipart/form-data with a filename)")
        return value


class UploadArgs(ma.Schema):
    file = FilePart(required=True)


class UploadQueryArgs(Strict):
    task_id = ma.fields.Integer(load_default=None, metadata={"description": "the task the evidence belongs to"})


class JSONObject(ma.fields.Field):
    """A form field holding a JSON object as text (multipart bodies carry no JSON of their own)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return json_object(value)  # the same rule as the 流程部署 page's role map (web.bundle_uploads)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class DefinitionUploadArgs(ma.Schema):
    file = ma.fields.List(FilePart(), required=True, validate=ma.validate.Length(min=1), metadata={
        "description": "one .zip archive, or one or more .bpmn, .dmn and .json (JSON Schema form) files; "
                       "a folder in the zip or a name like forms/a.json keeps its relative path"})
    role_map = JSONObject(load_default=None, metadata={
        "description": 'JSON object {lane or group: role code}, "*" for every other lane; kept with the deployment'})
    replace = ma.fields.Boolean(load_default=False, metadata={
        "description": "replace a live process (running instances, or one the engine's own code relies on), or "
                       "take a shipped process's id: administrators only"})


class MigrationArgs(Strict):
    dry_run = ma.fields.Boolean(load_default=True, metadata={
        "description": "only report, per running instance of the previous version, whether it can move"})
    from_version = ma.fields.Integer(load_default=None, metadata={
        "description": "the version whose instances move (default: the one before this definition)"})


class OrgSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    kind = ma.fields.String()


class HazardSchema(ma.Schema):
    id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit = ma.fields.Nested(OrgSchema)
    unit_serial = ma.fields.Integer(metadata={"description": "序号 within the unit"})
    location = ma.fields.String()
    check_item = ma.fields.String(allow_none=True)
    problem = ma.fields.String()
    measures = ma.fields.String(allow_none=True)
    completion = ma.fields.String(allow_none=True)
    responsible_person = ma.fields.String(allow_none=True)
    checked_at = ma.fields.Date(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    remarks = ma.fields.String(allow_none=True)
    category = ma.fields.String()
    grade = ma.fields.String(allow_none=True)
    source = ma.fields.String()
    deadline = ma.fields.Date(allow_none=True)
    status = ma.fields.String()
    campaign_id = ma.fields.Integer(allow_none=True)
    repeat_count = ma.fields.Integer(metadata={"description": "回头看反弹次数: times a look-back found it open again"})
    reopened_at = ma.fields.DateTime(allow_none=True)
    reported_by_id = ma.fields.Integer()
    reported_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class TaskSchema(ma.Schema):
    id = ma.fields.Integer()
    hazard_id = ma.fields.Integer(allow_none=True)
    instance_id = ma.fields.Integer()
    bpmn_id = ma.fields.String()
    name = ma.fields.String()
    stage = ma.fields.String(allow_none=True)
    state = ma.fields.String()
    candidate_role = ma.fields.String(allow_none=True)
    candidate_org_id = ma.fields.Integer(allow_none=True)
    assignee_id = ma.fields.Integer(allow_none=True)
    claimed_at = ma.fields.DateTime(allow_none=True)
    due_at = ma.fields.DateTime(allow_none=True)
    priority = ma.fields.Integer()
    form = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    completed_at = ma.fields.DateTime(allow_none=True)
    completed_by_id = ma.fields.Integer(allow_none=True)


class HazardBriefSchema(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit_serial = ma.fields.Integer()
    location = ma.fields.String()
    problem = ma.fields.String()
    category = ma.fields.String()
    grade = ma.fields.String(allow_none=True)
    status = ma.fields.String()


class SubjectLabelSchema(ma.Schema):
    kind = ma.fields.String()
    id = ma.fields.Integer()
    title = ma.fields.String()


class TaskInListSchema(TaskSchema):
    process_key = ma.fields.String(metadata={"description": "the process (definition key) the task belongs to"})
    process_name = ma.fields.String()
    process_version = ma.fields.Integer()
    business_key = ma.fields.String(allow_none=True)
    unit_id = ma.fields.Integer(allow_none=True,
                                metadata={"description": "the hazard's unit, else the organisation the task is offered at"})
    unit_name = ma.fields.String(allow_none=True)
    hazard = ma.fields.Nested(HazardBriefSchema, allow_none=True)
    campaign = ma.fields.Nested(SubjectLabelSchema, allow_none=True,
                                metadata={"description": "the campaign whose instance the task belongs to"})


class TaskDetailSchema(TaskSchema):
    hazard = ma.fields.Nested(HazardSchema, allow_none=True)
    form_schema = ma.fields.Dict(allow_none=True, metadata={"description": "the JSON Schema of the task's form"})
    can_act = ma.fields.Boolean(metadata={"description": "the caller may claim, delegate or complete it now"})


class EventSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    occurred_at = ma.fields.DateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    actor = ma.fields.String(allow_none=True)
    task_id = ma.fields.Integer(allow_none=True)
    data = ma.fields.Dict()


class HazardDetailSchema(HazardSchema):
    timeline = ma.fields.List(ma.fields.Nested(EventSchema))
    open_tasks = ma.fields.List(ma.fields.Nested(TaskSchema))


class PageSchema(ma.Schema):
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()


class TaskPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(TaskInListSchema))
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "pass as `cursor` for the next page; "
                                                                            "null on the last page"})


class HazardPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(HazardSchema))


class AttachmentSchema(ma.Schema):
    id = ma.fields.Integer()
    hazard_id = ma.fields.Integer()
    task_id = ma.fields.Integer(allow_none=True)
    uploaded_by_id = ma.fields.Integer()
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    created_at = ma.fields.DateTime()


class CommentSchema(ma.Schema):
    id = ma.fields.Integer()
    hazard_id = ma.fields.Integer()
    task_id = ma.fields.Integer(allow_none=True)
    author_id = ma.fields.Integer()
    author = ma.fields.Function(lambda c: c.author.display_name, dump_only=True)
    body = ma.fields.String()
    created_at = ma.fields.DateTime()


class DefinitionSchema(ma.Schema):
    id = ma.fields.Integer()
    key = ma.fields.String()
    name = ma.fields.String()
    version = ma.fields.Integer()
    sha256 = ma.fields.String()
    deployed_at = ma.fields.DateTime()
    deployed_by_id = ma.fields.Integer(allow_none=True)
    deployment_id = ma.fields.Integer(allow_none=True, metadata={"description": "the bundle deployment it came from"})
    filename = ma.fields.String(allow_none=True, metadata={"description": "the bundle file holding the process"})
    callees = ma.fields.Dict(allow_none=True, metadata={
        "description": "deployed processes its call activities run -> the version each runs"})
    change_summary = ma.fields.String(allow_none=True, metadata={
        "description": "what this version changed against the previous one (user tasks added, removed, renamed; "
                       "other elements changed)"})
    replaced = ma.fields.Boolean(metadata={"description": "deployed with an administrator's replace over a live "
                                                          "process (running instances or a shipped one)"})
    deployed_by = ma.fields.Function(lambda d: d.deployed_by.username if d.deployed_by else None,
                                     metadata={"description": "who deployed it (null: the operator)"})


class DiagramFindingSchema(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()
    file = ma.fields.String(allow_none=True)
    element_id = ma.fields.String(allow_none=True)
    element_name = ma.fields.String(allow_none=True)
    line = ma.fields.Integer(allow_none=True)
    fix = ma.fields.String(allow_none=True)
    severity = ma.fields.String(metadata={"description": "error (refuses a deploy) or warning"})


class DeployResultSchema(DefinitionSchema):
    """The top-level fields describe the bundle's first process (what a single-diagram upload made)."""

    definitions = ma.fields.List(ma.fields.Nested(DefinitionSchema), metadata={
        "description": "every process of the bundle, in bundle order (unchanged ones keep their version)"})
    findings = ma.fields.List(ma.fields.Nested(DiagramFindingSchema), metadata={"description": "warnings"})


class FoundProcessSchema(ma.Schema):
    key = ma.fields.String()
    name = ma.fields.String()
    filename = ma.fields.String()
    user_tasks = ma.fields.List(ma.fields.String(), metadata={"description": "ids of its user tasks"})
    forms = ma.fields.List(ma.fields.String())
    callees = ma.fields.Dict(metadata={"description": "deployed callee -> the version it would run"})


class ValidationReportSchema(ma.Schema):
    ok = ma.fields.Boolean(metadata={"description": "true when no finding is an error (a deploy would succeed)"})
    findings = ma.fields.List(ma.fields.Nested(DiagramFindingSchema))
    processes = ma.fields.List(ma.fields.Nested(FoundProcessSchema))
    files = ma.fields.List(ma.fields.String(), metadata={"description": "the files read from the upload"})


class DefinitionFileSchema(ma.Schema):
    name = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()


class InstanceMoveSchema(ma.Schema):
    instance_id = ma.fields.Integer()
    business_key = ma.fields.String(allow_none=True)
    safe = ma.fields.Boolean()
    reasons = ma.fields.List(ma.fields.String(), metadata={"description": "why it cannot move (empty when safe)"})
    moved = ma.fields.Boolean()


class MigrationReportSchema(ma.Schema):
    key = ma.fields.String()
    from_version = ma.fields.Integer()
    to_version = ma.fields.Integer()
    to_definition_id = ma.fields.Integer()
    dry_run = ma.fields.Boolean()
    instances = ma.fields.List(ma.fields.Nested(InstanceMoveSchema))


class StartProcessArgs(Strict):
    key = ma.fields.String(required=True, metadata={"description": "the process id of a deployed diagram"})
    data = ma.fields.Dict(load_default=dict, metadata={"description": "the start form's data"})
    business_key = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))


class ProcessInstanceSchema(ma.Schema):
    id = ma.fields.Integer()
    key = ma.fields.Function(lambda i: i.definition.key)
    version = ma.fields.Function(lambda i: i.definition.version)
    business_key = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    started_at = ma.fields.DateTime()
    completed_at = ma.fields.DateTime(allow_none=True)


class ApiErrorSchema(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()
    errors = ma.fields.List(ma.fields.Dict())
