"""Recurring inspections: the schedules of the schools in scope, their occurrences; create, pause and resume."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from engine.schedules import queries as schedule_queries
from engine.schedules.service import Schedules
from web.api.auth import api_blueprint, api_user, services
from web.api.schedule_schemas import (
    OccurrenceListArgs,
    OccurrencePageSchema,
    ScheduleArgs,
    ScheduleListArgs,
    SchedulePatchArgs,
    ScheduleSchema,
)
from web.api.schemas import ApiErrorSchema

blp = api_blueprint("api_schedules", __name__,
                    "Recurring inspections (seed 004): quarterly, monthly, daily key-site patrols, weekly 检查日")


def _with_recent(s, rows, now) -> list[dict]:
    recent = schedule_queries.recent_occurrences(s, [r.id for r in rows], now)
    return [{**{f: getattr(r, f) for f in ScheduleSchema().fields if f != "recent"}, "recent": recent.get(r.id, [])}
            for r in rows]


@blp.route("/schedules")
class ScheduleList(MethodView):
    @blp.arguments(ScheduleListArgs, location="query")
    @blp.response(200, ScheduleSchema(many=True))
    def get(self, args):
        """The schedules of the schools in the caller's scope, each with its next run and latest occurrences."""
        svc = services()
        with svc.uow() as uow:
            s = uow.session
            rows = schedule_queries.visible_schedules(s, api_user(s), args.get("school_id"))
            return _with_recent(s, rows, svc.clock.now())

    @blp.arguments(ScheduleArgs)
    @blp.response(201, ScheduleSchema)
    @blp.alt_response(403, description="only the security office sets up schedules", schema=ApiErrorSchema)
    @blp.alt_response(404, description="the school, a target unit or the checklist does not exist in the caller's "
                      "scope", schema=ApiErrorSchema)
    @blp.alt_response(422, description="invalid schedule; `errors` names each field", schema=ApiErrorSchema)
    def post(self, args):
        """Add a schedule; its first occurrence is the current period's (or the one containing starts_on)."""
        svc = services()
        schedule = Schedules(svc).create_schedule(g.api_user_id, args)
        with svc.uow() as uow:
            return _with_recent(uow.session, [schedule], svc.clock.now())[0]


@blp.route("/schedules/<int:schedule_id>")
class ScheduleOne(MethodView):
    @blp.response(200, ScheduleSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, schedule_id: int):
        """One schedule with its latest occurrences."""
        svc = services()
        with svc.uow() as uow:
            s = uow.session
            schedule = schedule_queries.get_visible_schedule(s, api_user(s), schedule_id)
            return _with_recent(s, [schedule], svc.clock.now())[0]

    @blp.arguments(SchedulePatchArgs)
    @blp.response(200, ScheduleSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def patch(self, args, schedule_id: int):
        """Pause (`active: false`) or resume (`active: true`, from the current period) a schedule."""
        svc = services()
        schedule = Schedules(svc).set_active(g.api_user_id, schedule_id, args["active"])
        with svc.uow() as uow:
            return _with_recent(uow.session, [schedule], svc.clock.now())[0]


@blp.route("/schedules/<int:schedule_id>/occurrences")
@blp.arguments(OccurrenceListArgs, location="query")
@blp.response(200, OccurrencePageSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def schedule_occurrences(args, schedule_id: int):
    """A schedule's occurrences, newest period first: open, done, overdue, missed or failed."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        schedule_queries.get_visible_schedule(s, api_user(s), schedule_id)
        items, total = schedule_queries.occurrences(s, schedule_id, svc.clock.now(), args["page"], args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}
