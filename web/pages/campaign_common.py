"""What the campaign pages share: their blueprint, phase labels, and the look-ups both page modules make.

web/pages/campaigns.py (list, start, dashboard, unit checklist) and web/pages/campaign_findings.py (findings,
look-backs) both add routes to this one blueprint; neither imports the other's routes.
"""
from __future__ import annotations

from flask import Blueprint, abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import Session

from engine.campaigns import checklists
from engine.campaigns import queries as cq
from engine.infra.errors import NotFound
from engine.org.models import User
from engine.org.scope import scope_of
from engine.rectification.hazards import HAZARD_PROCESS
from web.auth import services

bp = Blueprint("campaigns", __name__)

PHASE_LABELS = {
    "not_started": _l("未开始"), "self_check": _l("自查自纠"), "joint_inspection": _l("联检联查"), "rectification": _l("整改完善"),
    "supervision": _l("督导检查"), "summary": _l("审定总结"), "closed": _l("已结束"),
}


def load_shipped(path) -> int:
    """The id of a shipped checklist, loaded now by the current user if it is not there yet."""
    return checklists.add_checklist(services(), path.read_bytes(), path.name, path.stem, int(current_user.id),
                                    keep_existing=True).id


def campaign_or_404(s: Session, user: User, campaign_id: int):
    """The campaign and the user's scope, or 404 when it lies outside that scope."""
    scope = scope_of(s, user)
    try:
        return cq.get_visible_campaign(s, scope, campaign_id), scope
    except NotFound:
        abort(404)


def hazard_schema(s: Session) -> dict | None:
    """The hazard report form (the start form of the newest hazard process)."""
    return cq.start_form(s, HAZARD_PROCESS)


def hazard_categories(schema: dict | None) -> list[str]:
    """The hazard categories the report form offers, in its order."""
    category = ((schema or {}).get("properties") or {}).get("category") or {}
    return [o["const"] for o in category.get("oneOf", []) if "const" in o]
