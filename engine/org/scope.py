"""Organisation scope: the org paths a user reads under, from their role grants (a prefix match on OrgNode.path)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.org.models import OrgNode, User


@dataclass(frozen=True)
class Scope:
    """The org paths a user reads under; empty means only what they reported themselves."""

    user_id: int
    paths: tuple[str, ...]

    def covers(self, path: str) -> bool:
        """True when the org node with this path lies in scope."""
        return any(path.startswith(p) for p in self.paths)


def scope_of(session: Session, user: User) -> Scope:
    """Read the user's grant nodes once (one query) and turn them into path prefixes."""
    org_ids = {g.org_id for g in user.grants}
    if not org_ids:
        return Scope(user.id, ())
    nodes = list(session.execute(select(OrgNode.id, OrgNode.kind, OrgNode.path).where(OrgNode.id.in_(org_ids))))
    paths = set()
    for _id, kind, path in nodes:
        if kind == "grid":
            # The grid's unit: drop the grid's own id from the end of "/1/4/9/12/".
            path = path[: path.rstrip("/").rfind("/") + 1]
        paths.add(path)
    return Scope(user.id, widest(paths))


def widest(paths: set[str]) -> tuple[str, ...]:
    """A path under another one adds nothing: keep the widest only (fewer OR branches), sorted."""
    return tuple(sorted(p for p in paths if not any(p != q and p.startswith(q) for q in paths)))


def orgs_under(paths: tuple[str, ...]):
    # Paths hold only digits and slashes, so no LIKE escaping is needed (and an ESCAPE clause would
    # keep PostgreSQL from using the pattern index).
    return select(OrgNode.id).where(or_(*[OrgNode.path.startswith(p) for p in paths]))


def can_view_org(session: Session, user: User, org_id: int) -> bool:
    """True when the org node (a unit or a school, e.g. for its ledger) lies in the user's scope."""
    path = session.scalar(select(OrgNode.path).where(OrgNode.id == org_id))
    return path is not None and scope_of(session, user).covers(path)


def visible_orgs(session: Session, user: User, kinds: tuple[str, ...] = ("school", "unit")) -> list[OrgNode]:
    """The org nodes of these kinds in the user's scope, in tree order (for filter and ledger choices)."""
    scope = scope_of(session, user)
    if not scope.paths:
        return []
    return list(session.scalars(
        select(OrgNode).where(OrgNode.kind.in_(kinds), OrgNode.id.in_(orgs_under(scope.paths)))
        .order_by(OrgNode.path)
    ))
