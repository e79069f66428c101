"""隐患查询: every hazard in the reader's scope, searched, filtered, sorted, paged, and exported exactly as shown."""
from __future__ import annotations

import tempfile
from itertools import islice
from datetime import date, datetime
from urllib.parse import quote

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from engine.infra.timezone import CHINA
from engine.rectification import visibility
from engine.rectification.hazard_list import XLSX, write_hazard_list
from web.auth import db_user, services
from web.scope import visible_units
from web.templating import GRADE_LABELS, SOURCE_LABELS, STAGE_LABELS, bad_input, date_arg

bp = Blueprint("hazard_list", __name__)
PER_PAGE = 30
# Query parameter → engine filter; the integer ones are ids.
FILTERS = {"unit": "unit_id", "school": "school_id", "category": "category", "grade": "grade", "status": "status",
           "source": "source", "campaign": "campaign_id"}
INT_FILTERS = {"unit", "school", "campaign"}
DATE_LABELS = {"from": _l("上报日期起"), "to": _l("上报日期止")}
SORT_LABELS = {"reported": _l("最新上报"), "deadline": _l("整改期限"), "unit": _l("责任单位")}
# What 隐患查询 exports (at most; the list's filters narrow it): a bureau's whole history is one click away.
MAX_EXPORT_ROWS = 200_000


def _date(name: str) -> date | None:
    return date_arg(request.args, name, DATE_LABELS[name])


def _query(now: datetime) -> dict:
    """The list's parameters from the URL: engine filters, search text, overdue date, sort; bad ones refused."""
    filters = {}
    for key, column in FILTERS.items():
        raw = (request.args.get(key) or "").strip()
        if not raw:
            continue
        if key in INT_FILTERS:
            if not raw.isdigit():
                raise bad_input(_("筛选条件有误，请重新选择。"))
            raw = int(raw)
        filters[column] = raw
    start, end = _date("from"), _date("to")
    if start and end and start > end:
        raise bad_input(_("上报日期的开始日期不能晚于结束日期。"))
    if start:
        filters["reported_from"] = start
    if end:
        filters["reported_to"] = end
    sort = request.args.get("sort") or "reported"
    if sort not in visibility.HAZARD_SORTS:
        raise bad_input(_("筛选条件有误，请重新选择。"))
    overdue = request.args.get("overdue") == "1"
    return {"filters": filters, "text": (request.args.get("q") or "").strip()[:100],
            "overdue_at": now if overdue else None, "sort": sort,
            "open_only": request.args.get("open") == "1"}


def _labels() -> dict[str, dict]:
    return {"grade": {k: str(v) for k, v in GRADE_LABELS.items()},
            "source": {k: str(v) for k, v in SOURCE_LABELS.items()},
            "status": {k: str(v) for k, v in STAGE_LABELS.items()}}


@bp.route("/hazards")
@login_required
def index():
    """One page of the hazards in my scope, with the search and filters that produced it."""
    svc = services()
    now = svc.clock.now()
    query = _query(now)
    page_no = max(request.args.get("page", 1, type=int) or 1, 1)
    with svc.uow() as uow:
        s = uow.session
        user = db_user(s)
        page = visibility.list_hazards(s, user, query["filters"], page_no, PER_PAGE, text=query["text"],
                                       overdue_at=query["overdue_at"], open_only=query["open_only"],
                                       sort=query["sort"])
        orgs = visible_units(s, user)
        args = {k: v for k, v in request.args.items() if k != "page" and v}
        return render_template("hazards/list.html", page=page, args=args, now=now,
                               today=now.astimezone(CHINA).date(),
                               units=[o for o in orgs if o.kind == "unit"],
                               schools=[o for o in orgs if o.kind == "school"], sort_labels=SORT_LABELS,
                               pages=max(1, -(-page.total // PER_PAGE)))


@bp.route("/hazards.xlsx")
@login_required
def export():
    """Exactly the rows the list shows (all its pages), as Excel, written through a temporary file."""
    svc = services()
    now = svc.clock.now()
    query = _query(now)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with svc.uow() as uow:
        s = uow.session
        rows = visibility.iter_hazards(s, db_user(s), query["filters"], text=query["text"],
                                       overdue_at=query["overdue_at"], open_only=query["open_only"],
                                       sort=query["sort"])
        write_hazard_list(spool, islice(rows, MAX_EXPORT_ROWS), _labels(), "隐患查询结果", now.astimezone(CHINA).date())
    size = spool.tell()
    spool.seek(0)

    def chunks():
        with spool:
            while block := spool.read(64 * 1024):
                yield block

    response = Response(chunks(), mimetype=XLSX)
    response.headers["Content-Length"] = str(size)
    filename = f"隐患查询-{now.astimezone(CHINA):%Y%m%d}.xlsx"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
