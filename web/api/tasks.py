"""Tasks: scoped, filtered inbox lists; one task with its form; claim, unclaim, delegate, complete."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from engine.process import lifecycle
from engine.rectification import visibility
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import (
    ApiErrorSchema,
    CompleteArgs,
    DelegateArgs,
    TaskDetailSchema,
    TaskListArgs,
    TaskPageSchema,
    TaskSchema,
)

blp = api_blueprint("api_tasks", __name__, "Human tasks: inbox views, claim, delegate, complete")
NOT_YOURS = {"description": "the caller may not act on this task (not its assignee, not in its group, or not "
                           "claimed by the caller)", "schema": ApiErrorSchema}
CONFLICT = {"description": "claimed or completed by someone else first", "schema": ApiErrorSchema}


class _WithExtras:
    """An ORM row with extra attributes for one response, without touching the row."""

    def __init__(self, row, **extra):
        self._row = row
        self.__dict__.update(extra)

    def __getattr__(self, name):
        return getattr(self._row, name)


def visible_task_id(task_id: int) -> None:
    # Another unit's task answers 404 before any verb runs, so ids reveal nothing across units.
    with services().uow() as uow:
        visibility.get_visible_task(uow.session, api_user(uow.session), task_id)


@blp.route("/tasks")
class Tasks(MethodView):
    @blp.arguments(TaskListArgs, location="query")
    @blp.response(200, TaskPageSchema)
    def get(self, args):
        """List tasks of every process: an inbox view (mine, groups, overdue) or all open tasks in scope.

        Each task names its process, business key and unit, and its hazard or campaign where there is one.
        Filtered; paged by number (`page`) or by keyset (`cursor` = the previous page's `next_cursor`)."""
        svc = services()
        view, page, per_page = args.pop("view"), args.pop("page"), args.pop("per_page")
        cursor = args.pop("cursor", None)
        with svc.uow() as uow:
            s = uow.session
            return visibility.list_tasks(s, api_user(s), svc.clock.now(), view, args, page, per_page,
                                         hooks=svc.hooks, cursor=cursor)


@blp.route("/tasks/<int:task_id>")
class Task(MethodView):
    @blp.response(200, TaskDetailSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, task_id: int):
        """One task with its hazard and the JSON Schema of its form."""
        with services().uow() as uow:
            s = uow.session
            user = api_user(s)
            task = visibility.get_visible_task(s, user, task_id)
            form_schema = task.instance.definition.forms.get(task.form) if task.form else None
            if task.hazard is not None:
                task.hazard.unit  # noqa: B018  (loaded now: the response is written after the session closes)
            return _WithExtras(task, form_schema=form_schema, can_act=lifecycle.can_act_on_task(user, task),
                               hazard=task.hazard)


@blp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@blp.response(200, TaskSchema)
@blp.alt_response(403, **NOT_YOURS)
@blp.alt_response(409, **CONFLICT)
def claim(task_id: int):
    """Take a group task into your own inbox."""
    visible_task_id(task_id)
    return services().claim_task(task_id, _caller_id())


@blp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@blp.response(200, TaskSchema)
@blp.alt_response(403, **NOT_YOURS)
@blp.alt_response(409, **CONFLICT)
def unclaim(task_id: int):
    """Give a task you claimed back to its group."""
    visible_task_id(task_id)
    return services().unclaim_task(task_id, _caller_id())


@blp.route("/tasks/<int:task_id>/delegate", methods=["POST"])
@blp.arguments(DelegateArgs)
@blp.response(200, TaskSchema)
@blp.alt_response(403, **NOT_YOURS)
@blp.alt_response(409, **CONFLICT)
def delegate(args, task_id: int):
    """Hand a task to a colleague who holds the role it needs."""
    visible_task_id(task_id)
    return services().delegate_task(task_id, _caller_id(), args["to_user_id"], args.get("reason"))


@blp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@blp.arguments(CompleteArgs)
@blp.response(200, TaskSchema)
@blp.alt_response(403, **NOT_YOURS)
@blp.alt_response(409, **CONFLICT)
@blp.alt_response(422, description="the form data is invalid; `errors` names each field", schema=ApiErrorSchema)
def complete(args, task_id: int):
    """Submit the task's form: validated against its JSON Schema, then the process moves on."""
    visible_task_id(task_id)
    return services().complete_task(task_id, _caller_id(), args["data"])


def _caller_id() -> int:
    return g.api_user_id
