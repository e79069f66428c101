"""逐级督办 and the bell through the API: the escalated-to-me list and its four actions, my notifications."""
from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView

from engine.process import bell, escalation
from engine.process.escalation_ladder import COORDINATION_RUNGS
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import ApiErrorSchema, PageArgs, PageSchema, Strict, TaskSchema
from web.api.tasks import visible_task_id

blp = api_blueprint("api_escalations", __name__,
                    "逐级督办 (tasks escalated to the caller: extend, reassign, take over), 需上级协调, and the bell")
NOT_ESCALATED = {"description": "the task has not been escalated to a level the caller stands for",
                 "schema": ApiErrorSchema}
INVALID = {"description": "invalid input; `errors` names each field", "schema": ApiErrorSchema}


class EscalationSchema(ma.Schema):
    level = ma.fields.Integer(metadata={"description": "第 N 级: how far up the ladder the task has gone"})
    rung = ma.fields.String(metadata={"description": "the ladder rung, e.g. department_head, leader, supervisor"})
    target_role = ma.fields.String(allow_none=True)


class EscalatedTaskSchema(TaskSchema):
    escalation = ma.fields.Nested(EscalationSchema)


class EscalatedPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(EscalatedTaskSchema))


class ExtendArgs(Strict):
    due_at = ma.fields.String(required=True, metadata={"description": "the new due date (YYYY-MM-DD, China) or "
                                                                      "ISO date-time; later than the current one"})
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class ReassignArgs(Strict):
    user_id = ma.fields.Integer(required=True, metadata={"description": "one of the task's candidates"})
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class ReasonArgs(Strict):
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class CoordinationArgs(Strict):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    to = ma.fields.String(load_default="leader", validate=ma.validate.OneOf(COORDINATION_RUNGS),
                          metadata={"description": "the school's leadership (leader) or the bureau (supervisor)"})


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    title = ma.fields.String()
    body = ma.fields.String()
    subject_kind = ma.fields.String(allow_none=True, metadata={"description": "task, hazard, incident, ..."})
    subject_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    read_at = ma.fields.DateTime(allow_none=True)


class NotificationListArgs(PageArgs):
    unread_only = ma.fields.Boolean(load_default=False)


class NotificationPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(NotificationSchema))
    unread = ma.fields.Integer(metadata={"description": "the number on the bell"})


class MarkReadArgs(Strict):
    ids = ma.fields.List(ma.fields.Integer(), load_default=None,
                         metadata={"description": "the notifications to mark read; omitted: all of mine"})


class MarkedSchema(ma.Schema):
    changed = ma.fields.Integer()


class _Escalated:
    def __init__(self, task, esc):
        self._task, self.escalation = task, esc

    def __getattr__(self, name):
        return getattr(self._task, name)


@blp.route("/escalated")
@blp.arguments(PageArgs, location="query")
@blp.response(200, EscalatedPageSchema)
def escalated(args):
    """Open tasks escalated to a level the caller stands for (逐级督办), most overdue first."""
    with services().uow() as uow:
        s = uow.session
        rows, total = escalation.escalated_to(s, api_user(s), page=args["page"], per_page=args["per_page"])
        return {"items": [_Escalated(task, esc) for task, esc in rows], "total": total, "page": args["page"],
                "per_page": args["per_page"]}


@blp.route("/tasks/<int:task_id>/extend", methods=["POST"])
@blp.arguments(ExtendArgs)
@blp.response(200, TaskSchema)
@blp.alt_response(403, **NOT_ESCALATED)
@blp.alt_response(422, **INVALID)
def extend(args, task_id: int):
    """Give an escalated task a later deadline, with a reason; its reminders and escalation start afresh."""
    visible_task_id(task_id)
    return escalation.extend_deadline(services(), task_id, g.api_user_id, args["due_at"], args["reason"])


@blp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@blp.arguments(ReassignArgs)
@blp.response(200, TaskSchema)
@blp.alt_response(403, **NOT_ESCALATED)
@blp.alt_response(422, **INVALID)
def reassign(args, task_id: int):
    """Give an escalated task to one of its candidates (its role at its organisation or below)."""
    visible_task_id(task_id)
    return escalation.reassign_task(services(), task_id, g.api_user_id, args["user_id"], args["reason"])


@blp.route("/tasks/<int:task_id>/take-over", methods=["POST"])
@blp.arguments(ReasonArgs)
@blp.response(200, TaskSchema)
@blp.alt_response(403, **NOT_ESCALATED)
def take_over(args, task_id: int):
    """The escalated-to level takes the task into its own hands (the caller becomes its assignee)."""
    visible_task_id(task_id)
    return escalation.take_over_task(services(), task_id, g.api_user_id, args["reason"])


@blp.route("/tasks/<int:task_id>/request-coordination", methods=["POST"])
@blp.arguments(CoordinationArgs)
@blp.response(200, TaskSchema)
@blp.alt_response(403, description="the caller neither holds the task nor is in its group", schema=ApiErrorSchema)
@blp.alt_response(404, description="the organisation has no such level to coordinate", schema=ApiErrorSchema)
@blp.alt_response(422, **INVALID)
def request_coordination(args, task_id: int):
    """需上级协调: the unit says the work is beyond its means; the leadership or the bureau gets the task."""
    visible_task_id(task_id)
    return escalation.request_coordination(services(), task_id, g.api_user_id, args["reason"], args["to"])


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationListArgs, location="query")
    @blp.response(200, NotificationPageSchema)
    def get(self, args):
        """My in-app notifications (the bell), newest first, with the unread count."""
        with services().uow() as uow:
            s = uow.session
            items, total = bell.notifications(s, g.api_user_id, page=args["page"], per_page=args["per_page"],
                                              unread_only=args["unread_only"])
            return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"],
                    "unread": bell.unread_count(s, g.api_user_id)}


@blp.route("/notifications/read", methods=["POST"])
@blp.arguments(MarkReadArgs)
@blp.response(200, MarkedSchema)
def mark_read(args):
    """Mark some of my notifications read (or all of them); another user's ids change nothing."""
    return {"changed": bell.mark_read(services(), g.api_user_id, args["ids"])}

