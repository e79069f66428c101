"""marshmallow schemas of the recurring-inspection endpoints (the engine checks the values and names bad fields)."""
from __future__ import annotations

import marshmallow as ma

from engine.schedules.models import CADENCES, SCHEDULE_KINDS
from engine.schedules.queries import STATES
from web.api.schemas import PageArgs, PageSchema, Strict


class TargetUnitArgs(Strict):
    org_id = ma.fields.Integer(required=True, metadata={"description": "a unit of the school (the school itself "
                                                                      "for a school-level role)"})
    sites = ma.fields.List(ma.fields.String(), load_default=list, metadata={"description": "部位, e.g. 食堂"})


class TargetArgs(Strict):
    role = ma.fields.String(load_default=None, metadata={
        "description": "patrol: who patrols, a lane of bpmn/patrol.bpmn (department_staff, security_office)"})
    all_units = ma.fields.Boolean(load_default=False, metadata={"description": "every unit of the school"})
    units = ma.fields.List(ma.fields.Nested(TargetUnitArgs), load_default=list)
    sites = ma.fields.List(ma.fields.String(), load_default=list,
                           metadata={"description": "sites of a school-level patrol (security_office)"})


class ScheduleArgs(Strict):
    school_id = ma.fields.Integer(load_default=None, metadata={"description": "default: the caller's school"})
    title = ma.fields.String(required=True, metadata={"description": "e.g. 重点部位每日巡视"})
    cadence = ma.fields.String(required=True, validate=ma.validate.OneOf(CADENCES))
    weekday = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=7),
                                metadata={"description": "weekly: 1 = Monday … 7 = Sunday"})
    day = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=28), metadata={
        "description": "monthly/quarterly: day 1..28 (moved to a working day); default the first working day"})
    semester_starts = ma.fields.List(ma.fields.String(), load_default=None, metadata={
        "description": "semester: the school's semester start days, MM-DD (default 03-01 and 09-01)"})
    kind = ma.fields.String(load_default="patrol", validate=ma.validate.OneOf(SCHEDULE_KINDS),
                            metadata={"description": "patrol: a task per target; campaign: a 专项整治 over the units; "
                                                     "drill: a semester's emergency drills per unit"})
    target = ma.fields.Nested(TargetArgs, required=True)
    template_id = ma.fields.Integer(load_default=None, metadata={"description": "campaign: the checklist"})
    window = ma.fields.String(load_default=None, metadata={
        "description": "ISO-8601 duration an occurrence stays open (default P1D daily/weekly, P7D monthly, "
                       "P30D quarterly, P4M15D semester); after it the work is overdue and escalates"})
    starts_on = ma.fields.Date(load_default=None, metadata={
        "description": "the first period is the one containing this day (default today)"})


class SchedulePatchArgs(Strict):
    active = ma.fields.Boolean(required=True, metadata={"description": "false pauses, true resumes"})


class OccurrenceListArgs(PageArgs):
    pass


class OccurrenceSchema(ma.Schema):
    id = ma.fields.Integer()
    schedule_id = ma.fields.Integer()
    period_key = ma.fields.String(metadata={"description": "2026-11-23, 2026-W48, 2026-11, 2026-Q4 or 2026-S2"})
    period_start = ma.fields.DateTime()
    started_at = ma.fields.DateTime(allow_none=True)
    due_at = ma.fields.DateTime(allow_none=True)
    state = ma.fields.String(metadata={"description": " | ".join(STATES)})
    note = ma.fields.String(allow_none=True)
    instance_id = ma.fields.Integer(allow_none=True)
    campaign_id = ma.fields.Integer(allow_none=True)
    tasks_total = ma.fields.Integer()
    tasks_done = ma.fields.Integer()


class OccurrencePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(OccurrenceSchema))


class ScheduleSchema(ma.Schema):
    id = ma.fields.Integer()
    org_id = ma.fields.Integer(metadata={"description": "the school"})
    title = ma.fields.String()
    cadence = ma.fields.String()
    weekday = ma.fields.Integer(allow_none=True)
    day = ma.fields.Integer(allow_none=True)
    semester_starts = ma.fields.List(ma.fields.String(), allow_none=True)
    kind = ma.fields.String()
    target = ma.fields.Dict()
    template_id = ma.fields.Integer(allow_none=True)
    window = ma.fields.String()
    active = ma.fields.Boolean()
    next_run_at = ma.fields.DateTime(allow_none=True, metadata={"description": "null while paused"})
    source = ma.fields.String(allow_none=True, metadata={"description": "e.g. seed004:daily_key_sites"})
    created_at = ma.fields.DateTime()
    created_by_id = ma.fields.Integer()
    recent = ma.fields.List(ma.fields.Nested(OccurrenceSchema), metadata={"description": "latest occurrences"})


class ScheduleListArgs(Strict):
    school_id = ma.fields.Integer(load_default=None)
