"""Organisation scope for pages: the engine's visibility rules, plus the unit choices a form offers."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.org.models import OrgNode, User
from engine.org.scope import visible_orgs
from engine.process.lifecycle import can_act_on_task
from engine.rectification.visibility import can_view_hazard, can_view_task

__all__ = ["can_act_on_task", "can_view_hazard", "can_view_task", "ledger_orgs", "units_of_school", "visible_units"]


def visible_units(session: Session, user: User) -> list[OrgNode]:
    """The units (and schools) a user may pick in filters and the ledger, in tree order."""
    return visible_orgs(session, user, ("school", "unit"))


def ledger_orgs(session: Session, user: User) -> list[OrgNode]:
    """The nodes whose ledger a user may open, widest first: a bureau, city or province lists every school below."""
    return visible_orgs(session, user, ("province", "city", "county", "school", "unit"))


def units_of_school(session: Session, school_id: int) -> list[OrgNode]:
    """The active units of one school, for the 责任单位 choice (a deactivated unit takes no new work)."""
    school = session.get(OrgNode, school_id)
    if school is None:
        return []
    return list(session.scalars(
        select(OrgNode).where(OrgNode.kind == "unit", OrgNode.path.startswith(school.path),
                              OrgNode.active.is_(True)).order_by(OrgNode.id)
    ))
