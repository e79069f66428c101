"""Organisation tree and user accounts: creation, password hashing, role grants."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.errors import NotFound, RectiflowError
from engine.org.models import ORG_KINDS, ROLES, OrgNode, RoleGrant, User

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """scrypt from the standard library, with a random salt, in a self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    """Constant-time comparison of a password with its stored hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)


def add_org(session: Session, kind: str, name: str, code: str, parent: OrgNode | None = None) -> OrgNode:
    """Add a node under `parent`, keeping its materialised path."""
    if kind not in ORG_KINDS:
        raise RectiflowError(f"unknown organisation kind {kind!r}; expected one of {ORG_KINDS}")
    node = OrgNode(kind=kind, name=name, code=code, parent_id=parent.id if parent else None, path="/")
    session.add(node)
    session.flush()
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    return node


def add_user(session: Session, username: str, display_name: str, password: str, org: OrgNode, now,
             roles: list[tuple[str, OrgNode]] = (), email: str | None = None) -> User:
    """Create a user at `org` with (role, scope node) grants."""
    user = User(username=username, display_name=display_name, email=email, password_hash=hash_password(password),
                org_id=org.id, created_at=now, active=True)
    session.add(user)
    session.flush()
    for role, scope in roles:
        grant_role(session, user, role, scope)
    return user


def grant_role(session: Session, user: User, role: str, scope: OrgNode) -> RoleGrant:
    """Give `user` the `role` for the org node `scope`."""
    if role not in ROLES:
        raise RectiflowError(f"unknown role {role!r}; expected one of {ROLES}")
    grant = RoleGrant(user_id=user.id, role=role, org_id=scope.id)
    session.add(grant)
    session.flush()
    return grant


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(f"user {user_id} does not exist or is inactive")
    return user


def find_user(session: Session, username: str) -> User:
    """The active user with this login name."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        raise NotFound(f"no active user named {username!r}")
    return user


def ancestors(session: Session, node: OrgNode) -> list[OrgNode]:
    """The node's ancestors and the node itself, root first, in one query."""
    ids = node.ancestor_ids()
    by_id = {n.id: n for n in session.scalars(select(OrgNode).where(OrgNode.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def nearest(session: Session, node: OrgNode, kind: str) -> OrgNode | None:
    """The closest ancestor-or-self of the given kind."""
    for candidate in reversed(ancestors(session, node)):
        if candidate.kind == kind:
            return candidate
    return None
