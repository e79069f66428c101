"""The bell: in-app notifications, the "escalated to me" page with its actions, and notification preferences."""
from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound, RectiflowError
from engine.org.models import User
from engine.process import bell, candidates, escalation, lifecycle
from engine.process.incidents import get_incident
from engine.process.models import CHANNELS, DELIVERY_MODES, HumanTask
from engine.rectification.models import Hazard
from engine.rectification.visibility import can_view_hazard, can_view_task
from web.auth import db_user, services
from web.templating import error_text

bp = Blueprint("notifications", __name__)

PER_PAGE = 30
CANDIDATES_SHOWN = 30  # per select; more than this and the form offers a search
EVENT_KIND_LABELS = {
    "*": _l("全部事件"), "task_created": _l("新待办"), "task_reminder": _l("到期提醒"), "task_overdue": _l("逾期"),
    "task_escalated": _l("逐级上报"), "deadline_extended": _l("期限延长"), "task_reassigned": _l("任务改派"),
    "task_taken_over": _l("任务被接管"), "task_delegated": _l("转办"),
}
CHANNEL_LABELS = {"inapp": _l("站内消息"), "email": _l("电子邮件"), "webhook": _l("群机器人")}
MODE_LABELS = {"immediate": _l("立即"), "digest": _l("每日汇总"), "off": _l("不发送")}


@bp.before_app_request
def _count_unread():
    """Read the navbar's unread count once per page, before the view opens its own unit of work."""
    # Not in the context processor: SQLite holds a write lock per transaction, and views render inside theirs.
    g.bell_unread = 0
    if (request.method == "GET" and not request.headers.get("HX-Request")
            and not request.path.startswith(("/api", "/static"))
            and getattr(current_user, "is_authenticated", False)):
        with services().uow() as uow:
            g.bell_unread = bell.unread_count(uow.session, int(current_user.id))


@bp.app_context_processor
def _bell():
    """Hand the count read above to every template."""
    return {"bell_unread": g.get("bell_unread", 0)}


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@bp.route("/notifications")
@login_required
def index():
    """My notifications, newest first, a page at a time."""
    page = _page()
    with services().uow() as uow:
        items, total = bell.notifications(uow.session, int(current_user.id), page=page, per_page=PER_PAGE)
        return render_template("notifications/index.html", items=items, total=total, page=page,
                               pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), kinds=EVENT_KIND_LABELS)


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_all_read():
    """Mark every one of my notifications read."""
    changed = bell.mark_read(services(), int(current_user.id))
    flash(_("已将 %(n)s 条通知标为已读", n=changed), "success")
    return redirect(url_for("notifications.index")), 303


def _task_page(s: Session, user: User, task_id: int) -> str | None:
    """An open task I may see opens itself; a closed one, or one I may not see, opens its hazard."""
    task = s.get(HumanTask, task_id)
    if task is None:
        return None
    if task.state == lifecycle.TaskState.READY and can_view_task(s, user, task):
        return url_for("tasks.show", task_id=task.id)
    return _hazard_page(s, user, task.hazard_id) if task.hazard_id else None


def _hazard_page(s: Session, user: User, hazard_id: int) -> str | None:
    hazard = s.get(Hazard, hazard_id)
    return url_for("hazards.detail", hazard_id=hazard.id) if hazard and can_view_hazard(s, user, hazard) else None


def _incident_page(s: Session, user: User, incident_id: int) -> str | None:
    """流程故障 with this incident on top (open ones in the default list, resolved ones under 全部), in my scope."""
    try:
        incident = get_incident(s, user, incident_id)
    except (NotFound, NotAllowed):
        return None
    anchor = f"#incident-{incident.id}"
    if incident.status == "open":
        return url_for("incidents.index") + anchor
    return url_for("incidents.index", status="all", before=incident.id + 1) + anchor


# Subject kind (as the engine stores it on a notification) → the page that shows it, or None when I may not see it.
SUBJECT_PAGES = {"task": _task_page, "hazard": _hazard_page, "incident": _incident_page}


def subject_url(s: Session, user: User, opened: bell.Opened) -> str | None:
    """The page a notification opens, checked against my scope; a stored link only when it is a path on this site."""
    page = SUBJECT_PAGES.get(opened.subject_kind or "")
    if page is not None and opened.subject_id is not None:
        return page(s, user, opened.subject_id)
    link = opened.link or ""
    return link if link.startswith("/") and not link.startswith("//") else None


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@login_required
def open_one(notification_id: int):
    """Mark one of my notifications read and open its task (or, when that is closed or out of sight, its hazard)."""
    try:
        opened = bell.open_notification(services(), int(current_user.id), notification_id)
    except NotFound:
        abort(404)  # another user's notification answers like one that does not exist
    with services().uow() as uow:
        target = subject_url(uow.session, db_user(uow.session), opened)
    if target is None:
        flash(_("该通知关联的内容已无法查看"), "warning")
        target = url_for("notifications.index")
    return redirect(target), 303


def _message(exc: RectiflowError) -> str:
    """The engine's Chinese field message when it has one, else the usual translated error text."""
    if isinstance(exc, InvalidFormData):
        for detail in exc.errors or []:
            text = detail.get("message") or ""
            if any("\u4e00" <= ch <= "\u9fff" for ch in text):
                return _(text)  # the engine's Chinese message is the catalog key
    return error_text(exc)


@bp.route("/escalated")
@login_required
def escalated():
    """Open tasks escalated to a level I stand for, most overdue first."""
    return _render_escalated()


def _render_escalated(kept: dict | None = None, status: int = 200):
    page = _page()
    # ?find=<task id>&q=<text> narrows one task's reassign choices (the no-JavaScript way to search them).
    find, query = request.args.get("find", type=int), (request.args.get("q") or "").strip()
    with services().uow() as uow:
        s = uow.session
        rows, total = escalation.escalated_to(s, db_user(s), page=page, per_page=PER_PAGE)
        choices = {task.id: candidates.task_candidates(s, task, query if task.id == find else None,
                                                       limit=CANDIDATES_SHOWN) for task, _esc in rows}
        html = render_template("notifications/escalated.html", rows=rows, total=total, page=page,
                               pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), kept=kept or {},
                               choices=choices, find=find, query=query)
    return html, status


@bp.route("/escalated/<int:task_id>/candidates")
@login_required
def candidate_options(task_id: int):
    """The reassign choices of one escalated task matching ?q= (htmx swaps them into the form's select)."""
    with services().uow() as uow:
        s = uow.session
        task = s.get(HumanTask, task_id)
        if task is None or not lifecycle.is_escalated_to(s, db_user(s), task_id):
            abort(404)
        found = candidates.task_candidates(s, task, request.args.get("q"), limit=CANDIDATES_SHOWN)
        return render_template("notifications/_candidates.html", found=found)


def _act(task_id: int, action, done: str):
    """Run one escalated-level action; on a refusal flash why and show the page again with the input kept."""
    try:
        action()
    except RectiflowError as exc:
        flash(_message(exc), "danger")
        kept = {"task_id": task_id, **{k: v for k, v in request.form.items() if k != "csrf_token"}}
        return _render_escalated(kept, 422)
    flash(done, "success")
    return redirect(url_for("notifications.escalated")), 303


@bp.route("/escalated/<int:task_id>/extend", methods=["POST"])
@login_required
def extend(task_id: int):
    """Give an escalated task a later deadline; a reason is required."""
    form = request.form
    return _act(task_id, lambda: escalation.extend_deadline(
        services(), task_id, int(current_user.id), form.get("due_at", ""), form.get("reason", "")), _("期限已延长"))


@bp.route("/escalated/<int:task_id>/reassign", methods=["POST"])
@login_required
def reassign(task_id: int):
    """Give an escalated task to the candidate chosen in the form (the service checks the choice again)."""
    form = request.form

    def action():
        chosen = form.get("user_id", type=int)
        if chosen is None:
            raise InvalidFormData("choose who takes the task", [{"field": "user_id", "message": "请选择改派对象"}])
        escalation.reassign_task(services(), task_id, int(current_user.id), chosen, form.get("reason") or None)

    return _act(task_id, action, _("任务已改派"))


@bp.route("/escalated/<int:task_id>/take-over", methods=["POST"])
@login_required
def take_over(task_id: int):
    """Take an escalated task into my own hands."""
    return _act(task_id, lambda: escalation.take_over_task(
        services(), task_id, int(current_user.id), request.form.get("reason") or None), _("您已接管该任务"))


@bp.route("/profile/notifications", methods=["POST"])
@login_required
def preferences():
    """Save my delivery choice for every (event kind, channel) pair on the profile form."""
    try:
        for kind in EVENT_KIND_LABELS:
            for channel in CHANNELS:
                mode = request.form.get(f"pref-{kind}-{channel}")
                if mode:
                    bell.set_preference(services(), int(current_user.id), kind, channel, mode)
    except RectiflowError as exc:
        flash(_message(exc), "danger")
    else:
        flash(_("通知设置已保存"), "success")
    return redirect(url_for("profile.show")), 303


def preference_table(user_id: int) -> dict:
    """What the profile page needs to draw the preferences form."""
    with services().uow() as uow:
        chosen = bell.preferences(uow.session, user_id)
    return {"pref_chosen": chosen, "pref_each_kind_chosen": any(kind != "*" for kind, _channel in chosen),
            "pref_kinds": EVENT_KIND_LABELS, "pref_channels": CHANNEL_LABELS,
            "pref_modes": {m: MODE_LABELS[m] for m in DELIVERY_MODES}}
