"""Managing people: create, edit, deactivate and reactivate users, grant and revoke roles.

Each verb runs in the caller's unit of work. The actor (None: the system, i.e. the command line) must administer the
user's home node and every node a grant names; each change records one `admin.*` audit event, never with a password.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.admin.scope import can_administer, record_admin_change, scoped
from engine.infra.errors import Conflict, InvalidFormData, NotFound
from engine.org import accounts
from engine.org.models import ROLES, OrgNode, RoleGrant, User
from engine.process.events import record_event
from engine.process.instances import lock_tasks_where
from engine.process.models import HumanTask
from engine.process.outbox import enqueue
from engine.process.states import TaskState

PROFILE_FIELDS = ("display_name", "employee_no", "phone", "email", "org_id", "locale")
UNUSABLE_PASSWORD = accounts.UNUSABLE_PASSWORD


def _snapshot(user: User) -> dict:
    return {"username": user.username, "display_name": user.display_name, "employee_no": user.employee_no,
            "phone": user.phone, "email": user.email, "org_id": user.org_id, "active": user.active,
            "grants": sorted([g.role, g.org_id] for g in user.grants)}


def _org(session: Session, actor: User | None, org_id: int | None, field: str = "org_id") -> OrgNode:
    org = session.get(OrgNode, org_id) if org_id is not None else None
    if org is None or not can_administer(session, actor, org):
        raise InvalidFormData(f"organisation {org_id} does not exist",
                              [{"field": field, "message": f"组织 {org_id} 不存在或不在您的管理范围内"}])
    if not org.active:
        raise InvalidFormData("organisation is deactivated", [{"field": field, "message": f"{org.name} 已停用"}])
    return org


def get_user(session: Session, actor: User | None, user_id: int) -> User:
    """The user if the actor administers their home node (NotFound otherwise)."""
    user = session.get(User, user_id)
    if user is None or not can_administer(session, actor, session.get(OrgNode, user.org_id)):
        raise NotFound(f"user {user_id} does not exist")
    return user


def _unique_errors(session: Session, values: dict, user_id: int | None) -> list[dict]:
    errors = []
    labels = {"username": "用户名", "employee_no": "工号", "phone": "手机号"}
    for name, label in labels.items():
        value = values.get(name)
        if value and session.scalar(select(User.id).where(getattr(User, name) == value, User.id != (user_id or 0))):
            errors.append({"field": name, "message": f"{label} {value} 已被使用"})
    return errors


def _clean(values: dict) -> dict:
    return {k: (v.strip() or None) if isinstance(v, str) else v for k, v in values.items()}


def create_user(session: Session, actor: User | None, now: datetime, *, username: str, display_name: str,
                org_id: int, password: str | None = None, employee_no: str | None = None,
                phone: str | None = None, email: str | None = None,
                roles: list[tuple[str, int]] = (), must_change_password: bool = True) -> User:
    """A new user at `org_id` with (role, org id) grants; without a password the user must set one via a reset
    (or sign in through the identity provider: such a user is created with must_change_password=False)."""
    values = _clean({"username": username, "display_name": display_name, "employee_no": employee_no,
                     "phone": phone, "email": email})
    errors = [{"field": f, "message": "不能为空"} for f in ("username", "display_name") if not values[f]]
    errors += _unique_errors(session, values, None)
    if errors:
        raise InvalidFormData(errors[0]["message"], errors)
    org = _org(session, actor, org_id)
    scopes = [(role, _org(session, actor, scope_id, "roles")) for role, scope_id in roles]
    _check_roles([r for r, _ in roles])
    user = User(username=values["username"], display_name=values["display_name"], email=values["email"],
                employee_no=values["employee_no"], phone=values["phone"], org_id=org.id, created_at=now,
                active=True, password_hash=accounts.hash_password(password) if password else UNUSABLE_PASSWORD,
                must_change_password=must_change_password)
    session.add(user)
    session.flush()
    for role, scope in scopes:
        accounts.grant_role(session, user, role, scope)
    session.refresh(user, ["grants"])
    record_admin_change(session, now, actor.id if actor else None, "user_created", target="user",
                        target_id=user.id, after=_snapshot(user))
    return user


def create_vouched_user(session: Session, now: datetime, *, org_code: str, username: str, display_name: str,
                        employee_no: str | None = None, email: str | None = None) -> User:
    """A user an identity provider vouched for whom nobody here knew, created just in time at the node `org_code`:
    no role grants and no usable local password (audited as admin.user_created by the system)."""
    org_id = session.scalar(select(OrgNode.id).where(OrgNode.code == org_code))
    if org_id is None:
        raise InvalidFormData(f"organisation {org_code!r} does not exist",
                              [{"field": "org_id", "message": f"组织 {org_code} 不存在"}])
    return create_user(session, None, now, username=username, display_name=display_name or username, org_id=org_id,
                       employee_no=employee_no, email=email, must_change_password=False)


def _check_roles(roles: list[str]) -> None:
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InvalidFormData(f"unknown role {bad[0]!r}", [{"field": "roles", "message": f"未知角色 {bad[0]}"}])


def update_user(session: Session, actor: User | None, now: datetime, user_id: int, changes: dict) -> User:
    """Change a user's name, 工号, phone, e-mail, home node or language."""
    user = get_user(session, actor, user_id)
    before = _snapshot(user)
    values = _clean({k: v for k, v in changes.items() if k in PROFILE_FIELDS})
    if "display_name" in values and not values["display_name"]:
        raise InvalidFormData("display name is empty", [{"field": "display_name", "message": "不能为空"}])
    errors = _unique_errors(session, values, user.id)
    if errors:
        raise InvalidFormData(errors[0]["message"], errors)
    if "org_id" in values:
        values["org_id"] = _org(session, actor, values["org_id"]).id
    for key, value in values.items():
        setattr(user, key, value)
    session.flush()
    record_admin_change(session, now, actor.id if actor else None, "user_updated", target="user",
                        target_id=user.id, before=before, after=_snapshot(user))
    return user


def set_active(session: Session, actor: User | None, now: datetime, user_id: int, active: bool) -> dict:
    """Deactivate (sessions end, claimed tasks return to their groups, the groups are told) or reactivate a user."""
    user = get_user(session, actor, user_id)
    if actor is not None and actor.id == user.id and not active:
        raise Conflict("不能停用自己的账号")
    returned: list[HumanTask] = []
    if user.active == active:
        return {"user": user, "returned_tasks": []}
    before = _snapshot(user)
    user.active = active
    if not active:
        accounts.end_sessions(session, user)
        returned = lock_tasks_where(session, HumanTask.assignee_id == user.id, HumanTask.state == TaskState.READY)
        for task in returned:
            task.assignee_id, task.claimed_at = None, None
            record_event(session, now, "TaskUnclaimed", actor.id if actor else None, instance_id=task.instance_id,
                         hazard_id=task.hazard_id, task_id=task.id, reason="assignee deactivated")
            if task.candidate_role and task.candidate_org_id:
                enqueue(session, now, "task_returned", {"task_id": task.id, "name": task.name,
                                                        "hazard_id": task.hazard_id, "by": user.display_name},
                        role=task.candidate_role, org_id=task.candidate_org_id)
    record_admin_change(session, now, actor.id if actor else None,
                        "user_activated" if active else "user_deactivated", target="user", target_id=user.id,
                        before=before, after=_snapshot(user) | {"returned_tasks": [t.id for t in returned]})
    return {"user": user, "returned_tasks": [t.id for t in returned]}


def reset_password(session: Session, actor: User | None, now: datetime, user_id: int) -> str:
    """Give the user a one-time sign-in code (returned once): it works as a password only until they choose a new one.

    Their sessions end, a lockout is lifted, and the next sign-in leads straight to the password change."""
    user = get_user(session, actor, user_id)
    code = secrets.token_urlsafe(9)
    user.password_hash = accounts.hash_password(code)
    user.must_change_password = True
    user.failed_logins, user.locked_until = 0, None
    accounts.end_sessions(session, user)
    record_admin_change(session, now, actor.id if actor else None, "password_reset", target="user",
                        target_id=user.id)
    return code


def claimed_open_tasks(session: Session, user_id: int) -> int:
    """How many open tasks the user holds (they return to their groups on deactivation)."""
    return session.scalar(select(func.count()).select_from(HumanTask)
                          .where(HumanTask.assignee_id == user_id, HumanTask.state == TaskState.READY))


def grant(session: Session, actor: User | None, now: datetime, user_id: int, role: str, org_id: int) -> RoleGrant:
    """Give the user a role at a node the actor administers (a grant already held is refused)."""
    user = get_user(session, actor, user_id)
    _check_roles([role])
    org = _org(session, actor, org_id)
    if any(g.role == role and g.org_id == org.id for g in user.grants):
        raise Conflict(f"{user.display_name} 已在 {org.name} 担任该角色")
    before = _snapshot(user)
    row = accounts.grant_role(session, user, role, org)
    session.refresh(user, ["grants"])
    record_admin_change(session, now, actor.id if actor else None, "role_granted", target="user",
                        target_id=user.id, before=before, after=_snapshot(user))
    return row


def revoke(session: Session, actor: User | None, now: datetime, user_id: int, grant_id: int) -> None:
    """Take a grant away; the last admin of a node the actor administers from above cannot remove themselves."""
    user = get_user(session, actor, user_id)
    row = session.get(RoleGrant, grant_id)
    if row is None or row.user_id != user.id or not can_administer(session, actor, session.get(OrgNode, row.org_id)):
        raise NotFound(f"grant {grant_id} does not exist")
    if actor is not None and row.role == "admin" and user.id == actor.id:
        raise Conflict("不能撤销自己的管理员授权")
    before = _snapshot(user)
    session.delete(row)
    session.flush()
    session.refresh(user, ["grants"])
    record_admin_change(session, now, actor.id if actor else None, "role_revoked", target="user",
                        target_id=user.id, before=before, after=_snapshot(user))


def list_users(session: Session, actor: User | None, *, org_id: int | None = None, role: str | None = None,
               active: bool | None = None, q: str | None = None, after_id: int | None = None,
               limit: int = 100) -> list[User]:
    """Users whose home node the actor administers, by id, keyset-paginated."""
    stmt = select(User).join(OrgNode, OrgNode.id == User.org_id).order_by(User.id).limit(limit)
    stmt = scoped(session, actor, stmt, org_id)
    if stmt is None:
        return []
    if role:
        stmt = stmt.where(User.id.in_(select(RoleGrant.user_id).where(RoleGrant.role == role)))
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(User.username.like(like), User.display_name.like(like),
                              User.employee_no.like(like), User.phone.like(like)))
    if after_id:
        stmt = stmt.where(User.id > after_id)
    return list(session.scalars(stmt))


def list_grants(session: Session, actor: User | None, *, org_id: int | None = None, role: str | None = None,
                after_id: int | None = None, limit: int = 100) -> list[dict]:
    """Who holds what where: the grants at nodes the actor administers, by grant id, keyset-paginated."""
    stmt = (select(RoleGrant, User, OrgNode).join(User, User.id == RoleGrant.user_id)
            .join(OrgNode, OrgNode.id == RoleGrant.org_id).order_by(RoleGrant.id).limit(limit))
    stmt = scoped(session, actor, stmt, org_id)
    if stmt is None:
        return []
    if role:
        stmt = stmt.where(RoleGrant.role == role)
    if after_id:
        stmt = stmt.where(RoleGrant.id > after_id)
    return [{"id": g.id, "role": g.role, "org_id": o.id, "org_name": o.name, "user_id": u.id,
             "username": u.username, "display_name": u.display_name, "active": u.active}
            for g, u, o in session.execute(stmt)]
