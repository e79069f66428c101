"""Delegated administration: who may manage which part of the org tree, and the audit event of every change.

An `admin` grant at a node lets its holder manage that node and everything below it (a school admin their school,
a bureau admin the bureau and its schools), never a sibling or a parent. Every administrative change is one audit
event `admin.<what>` carrying who, what, and the values before and after.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from engine.infra.errors import NotFound
from engine.org.models import OrgNode, User
from engine.org.scope import widest
from engine.process.events import record_event

ADMIN_ROLE = "admin"


def admin_paths(session: Session, user: User) -> tuple[str, ...]:
    """The org paths under which the user administers (empty: not an administrator anywhere)."""
    org_ids = {g.org_id for g in user.grants if g.role == ADMIN_ROLE}
    if not org_ids:
        return ()
    return widest(set(session.scalars(select(OrgNode.path).where(OrgNode.id.in_(org_ids)))))


def can_administer(session: Session, user: User | None, org: OrgNode) -> bool:
    """True when the node lies at or under one of the user's admin grants (always for the system, user None)."""
    return user is None or any(org.path.startswith(p) for p in admin_paths(session, user))


def require_admin_of(session: Session, user: User | None, org_id: int) -> OrgNode:
    """The org node, if the user administers it; otherwise NotFound (a node out of scope is not revealed)."""
    org = session.get(OrgNode, org_id)
    if org is None or not can_administer(session, user, org):
        raise NotFound(f"organisation {org_id} does not exist")
    return org


def scoped(session: Session, actor: User | None, stmt: Select, org_id: int | None = None) -> Select | None:
    """`stmt` (joined to OrgNode) narrowed to the actor's admin paths and, optionally, to one node's subtree;
    None when the actor administers nothing (the caller answers with an empty page)."""
    if actor is not None:
        paths = admin_paths(session, actor)
        if not paths:
            return None
        stmt = stmt.where(or_(*[OrgNode.path.startswith(p) for p in paths]))
    if org_id is not None:
        node = session.get(OrgNode, org_id)
        stmt = stmt.where(OrgNode.path.startswith(node.path if node else "-"))
    return stmt


def record_admin_change(session: Session, now: datetime, actor_id: int | None, what: str, *, target: str,
                        target_id: int, before: dict | None = None, after: dict | None = None) -> None:
    """Append the audit event of one administrative change, e.g. what="org_moved", target="org"."""
    record_event(session, now, f"admin.{what}", actor_id, target=target, target_id=target_id,
                 before=before or {}, after=after or {})
