"""Process instances: lists (scoped, keyset paged), one instance with its diagram state and history; cancel."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from engine.process import instance_views
from web.api.auth import api_blueprint, api_user, services
from web.api.instance_schemas import CancelArgs, InstanceDetailSchema, InstanceListArgs, InstancePageSchema
from web.api.schemas import ApiErrorSchema, ProcessInstanceSchema

blp = api_blueprint("api_instances", __name__, "Process instances: list, inspect, cancel")


@blp.route("/process-instances", methods=["GET"])
class Instances(MethodView):
    @blp.arguments(InstanceListArgs, location="query")
    @blp.response(200, InstancePageSchema)
    def get(self, args):
        """Instances the caller may see (designers and administrators: all; others: those they started or have a
        task in), newest first; paged by keyset (`after` = the previous page's `next_cursor`)."""
        svc = services()
        with svc.uow() as uow:
            s = uow.session
            return instance_views.list_instances(s, api_user(s), key=args.get("key"),
                                                 definition_id=args.get("definition_id"), status=args.get("status"),
                                                 after=args.get("after"), limit=args["limit"], hooks=svc.hooks)


@blp.route("/process-instances/<int:instance_id>")
class Instance(MethodView):
    @blp.response(200, InstanceDetailSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, instance_id: int):
        """One instance: its open tasks, history, the diagram's active and completed nodes, variables (designers and
        administrators only) and incidents."""
        svc = services()
        with svc.uow() as uow:
            s = uow.session
            d = instance_views.instance_detail(s, svc.runtime, api_user(s), instance_id, svc.hooks)
            i = d.instance
            return {
                "id": i.id, "key": d.definition.key, "version": d.definition.version, "definition_id": d.definition.id,
                "process_name": d.definition.name, "business_key": i.business_key, "status": i.status,
                "started_at": i.started_at, "updated_at": i.updated_at, "completed_at": i.completed_at,
                "starter": d.starter, "subject": d.subject, "open_tasks": d.open_tasks,
                "history": [{"id": e.id, "kind": e.kind, "occurred_at": e.occurred_at, "actor_id": e.actor_id,
                             "actor": name, "task_id": e.task_id, "data": e.data or {}} for e, name in d.history],
                "active": d.active, "done": d.done, "variables": d.variables,
                "incidents": [_json_row(r) for r in d.incidents] if d.incidents is not None else None,
                "can_cancel": d.can_cancel, "cancel_reason": d.cancel_reason,
            }


@blp.route("/process-instances/<int:instance_id>/cancel", methods=["POST"])
@blp.arguments(CancelArgs)
@blp.response(200, ProcessInstanceSchema)
@blp.alt_response(403, description="only administrators cancel instances", schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(409, description="the instance is not running", schema=ApiErrorSchema)
def cancel(args, instance_id: int):
    """Cancel a running instance with a reason: its open tasks are withdrawn and the cancellation is recorded."""
    svc = services()
    with svc.uow() as uow:
        # Instances the caller may not see answer 404 before the role check, so ids reveal nothing.
        instance_views.get_visible_instance(uow.session, api_user(uow.session), instance_id)
    instance = svc.cancel_instance(instance_id, g.api_user_id, args["reason"])
    with svc.uow() as uow:
        instance = instance_views.get_visible_instance(uow.session, api_user(uow.session), instance.id)
        instance.definition  # noqa: B018  (loaded now: the response is written after the session closes)
        return instance


def _json_row(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
