"""Saved inbox filters: per user, optionally shared with everyone who holds one (role, org) grant."""
from __future__ import annotations

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import Session, joinedload

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.org import accounts
from engine.org.models import SavedFilter, User

MAX_NAME_CHARS = 100


def save_filter(services, user_id: int, name: str, values: dict, shared_role: str | None = None,
                shared_org_id: int | None = None) -> SavedFilter:
    """Save (or overwrite by name) one of the user's filters; sharing only with a group the user belongs to."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidFormData("a filter needs a name of 1 to 100 characters",
                              [{"field": "name", "message": "1 to 100 characters"}])
    if not isinstance(values, dict):
        raise InvalidFormData("filter values must be an object", [{"field": "values", "message": "not an object"}])
    if (shared_role is None) != (shared_org_id is None):
        raise InvalidFormData("share with a role at an organisation, or not at all",
                              [{"field": "shared_role", "message": "role and organisation go together"}])
    with services.uow() as uow:
        s = uow.session
        user = accounts.get_user(s, user_id)
        if shared_role is not None and (shared_role, shared_org_id) not in {(g.role, g.org_id) for g in user.grants}:
            raise NotAllowed("you can share a filter only with a group you belong to")
        saved = s.scalars(select(SavedFilter).where(SavedFilter.owner_id == user.id, SavedFilter.name == name)).first()
        if saved is None:
            saved = SavedFilter(owner_id=user.id, name=name, created_at=services.clock.now())
            s.add(saved)
        saved.values = dict(values)
        saved.shared_role, saved.shared_org_id = shared_role, shared_org_id
        uow.commit()
        return saved


def filters_for(session: Session, user: User) -> list[SavedFilter]:
    """The user's own filters, then those shared with their groups, by name."""
    shared = [(g.role, g.org_id) for g in user.grants]
    clause = SavedFilter.owner_id == user.id
    if shared:
        clause = or_(clause, and_(SavedFilter.shared_role.is_not(None),
                                  tuple_(SavedFilter.shared_role, SavedFilter.shared_org_id).in_(shared)))
    rows = session.scalars(select(SavedFilter).where(clause).options(joinedload(SavedFilter.owner))).all()
    return sorted(rows, key=lambda f: (f.owner_id != user.id, f.name, f.id))


def delete_filter(services, user_id: int, filter_id: int) -> None:
    """Delete one of the user's own filters (a shared filter is deleted only by its owner)."""
    with services.uow() as uow:
        s = uow.session
        saved = s.get(SavedFilter, filter_id)
        if saved is None:
            raise NotFound(f"filter {filter_id} does not exist")
        if saved.owner_id != user_id:
            raise NotAllowed("only its owner may delete a saved filter")
        s.delete(saved)
        uow.commit()
