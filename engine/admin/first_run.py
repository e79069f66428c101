"""The first administrator of an empty database: from the command line or the first-run page (/setup).

The page is open to anyone who can reach the server while no administrator exists, so it asks for a setup code
that only the operator can read: an HMAC of the secret key (the same in every worker, nothing stored), printed by
`rectiflow serve` and `rectiflow admin setup-code`. Once an administrator exists the page is gone for good.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.admin import imports, orgs, people
from engine.infra.errors import Conflict, InvalidFormData
from engine.org import accounts
from engine.org.models import OrgNode, RoleGrant, User

# The kinds a first top node may have: a school runs alone, or a bureau, city or province over schools.
TOP_KINDS = ("province", "city", "county", "school")


def has_admin(session: Session) -> bool:
    """Whether any active user holds an admin grant (one indexed query)."""
    return session.scalar(select(RoleGrant.id).join(User, User.id == RoleGrant.user_id)
                          .where(RoleGrant.role == "admin", User.active.is_(True)).limit(1)) is not None


def setup_code(secret_key: str) -> str:
    """The first-run page's code for this installation: 12 characters derived from the secret key."""
    digest = hmac.new(secret_key.encode(), b"rectiflow first-run setup", hashlib.sha256).hexdigest()
    return "-".join(digest[i:i + 4] for i in range(0, 12, 4))


def code_matches(secret_key: str, given: str) -> bool:
    """A constant-time comparison of a typed setup code (spaces, dashes and case ignored)."""
    def norm(code: str) -> str:
        return "".join(ch for ch in code.lower() if ch.isalnum())
    return hmac.compare_digest(norm(setup_code(secret_key)), norm(given or ""))


def create_first_admin(session: Session, now: datetime, *, username: str, display_name: str, password: str,
                       org_rows: list[tuple[int, dict]] | None = None, file_name: str = "",
                       top: dict | None = None, top_id: int | None = None,
                       only_first: bool = True) -> tuple[User, OrgNode]:
    """An administrator at the top of an imported tree (`org_rows`), of a new top node (`top`: kind, name, code)
    or of an existing node (`top_id`); all in the caller's unit of work, so a refusal leaves nothing behind.

    `only_first` refuses once an administrator exists (the first-run page). The chosen password must pass the
    password policy (accounts.password_problems)."""
    if only_first and has_admin(session):
        raise Conflict("an administrator exists already; sign in as them to add others")
    if sum(x is not None for x in (org_rows, top, top_id)) != 1:
        raise InvalidFormData("give one of an org file, a top node or an existing node",
                              [{"field": "org", "message": "请上传组织机构文件，或填写顶层组织"}])
    problems = accounts.password_problems(password)
    if problems:
        raise InvalidFormData(problems[0]["message"], [{**problems[0], "field": "password"}])
    if org_rows is not None:
        if not org_rows:
            raise InvalidFormData("the org file has no rows", [{"field": "file", "message": "文件中没有组织机构"}])
        imports.import_orgs(session, None, now, org_rows, file_name=file_name)
        node = session.scalars(select(OrgNode).where(OrgNode.code == org_rows[0][1]["代码"])).one()
    elif top is not None:
        if top.get("kind") not in TOP_KINDS:
            raise InvalidFormData("unknown kind", [{"field": "kind", "message": "顶层组织须为省、市、区县或学校"}])
        node = orgs.add_node(session, None, now, kind=top["kind"], name=top.get("name") or "",
                             code=top.get("code") or "", parent_id=None, short_name=top.get("short_name"))
    else:
        node = session.get(OrgNode, top_id)
        if node is None:
            raise InvalidFormData(f"organisation {top_id} does not exist",
                                  [{"field": "org", "message": f"组织 {top_id} 不存在"}])
    user = people.create_user(session, None, now, username=username, display_name=display_name, org_id=node.id,
                              password=password, roles=[("admin", node.id)])
    user.must_change_password = False  # they chose this password just now
    return user, node
