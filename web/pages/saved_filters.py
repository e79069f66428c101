"""Saved inbox filters for the pages, over the engine's filters service (per user, shareable with a group)."""
from __future__ import annotations

from flask_login import current_user

from engine.org import filters as engine_filters
from web.templating import ROLE_LABELS


def groups_of(user) -> list[tuple[str, str]]:
    """The groups (role at org) a filter can be shared with, as (value, label) pairs."""

    return [(f"{g.role}@{g.org_id}", str(ROLE_LABELS.get(g.role, g.role))) for g in user.grants]


def list_for(session, user) -> list[dict]:
    """My filters and those shared with my groups: dicts with id, name, values, shared, mine."""
    return [{"id": f.id, "name": f.name, "values": dict(f.values or {}), "shared": bool(f.shared_role),
             "mine": f.owner_id == user.id} for f in engine_filters.filters_for(session, user)]


def save(services, name: str, values: dict, share: str) -> None:
    """Save a filter for the signed-in user, optionally shared with the group `role@org`."""
    role, _, org_id = share.partition("@") if share else (None, None, None)
    engine_filters.save_filter(services, int(current_user.id), name, values, shared_role=role or None,
                               shared_org_id=int(org_id) if org_id and org_id.isdigit() else None)


def delete(services, filter_id: int) -> None:
    """Delete a filter the signed-in user owns."""
    engine_filters.delete_filter(services, int(current_user.id), filter_id)
