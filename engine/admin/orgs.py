"""Managing the org tree: add, change, move, deactivate and reactivate nodes, and hand a node's open work over.

Each verb runs in the caller's unit of work, checks the actor's admin scope (engine/admin/scope.py; `actor=None` is
the system, i.e. the command line) and records one `admin.*` audit event with the values before and after.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, func, literal, select, update
from sqlalchemy.orm import Session

from engine.admin.scope import record_admin_change, require_admin_of, scoped
from engine.infra.errors import Conflict, InvalidFormData, NotFound
from engine.org.models import ORG_KINDS, UNIT_TYPES, OrgNode, User
from engine.process.instances import lock_tasks_where
from engine.process.models import HumanTask
from engine.process.states import TaskState
from engine.rectification.models import Hazard

# A child's kind lies deeper than its parent's; a unit sits in a school and a grid in a unit.
_DEPTH = {kind: i for i, kind in enumerate(ORG_KINDS)}
_REQUIRED_PARENT = {"unit": "school", "grid": "unit"}
EDITABLE = ("name", "short_name", "code", "unit_type", "headcount")


def _snapshot(node: OrgNode) -> dict:
    return {"kind": node.kind, "name": node.name, "short_name": node.short_name, "code": node.code,
            "unit_type": node.unit_type, "headcount": node.headcount, "parent_id": node.parent_id,
            "active": node.active}


# The node if the actor administers it (NotFound otherwise: a node out of scope is not revealed).
get_node = require_admin_of


def _check_fields(session: Session, kind: str, values: dict, parent: OrgNode | None, node_id: int | None) -> None:
    errors = []
    if kind not in ORG_KINDS:
        errors.append({"field": "kind", "message": f"组织类型须为 {', '.join(ORG_KINDS)} 之一"})
    if not (values.get("name") or "").strip():
        errors.append({"field": "name", "message": "名称不能为空"})
    code = (values.get("code") or "").strip()
    if not code:
        errors.append({"field": "code", "message": "代码不能为空"})
    elif session.scalar(select(OrgNode.id).where(OrgNode.code == code, OrgNode.id != (node_id or 0))):
        errors.append({"field": "code", "message": f"代码 {code} 已被使用"})
    unit_type = values.get("unit_type")
    if unit_type and (kind != "unit" or unit_type not in UNIT_TYPES):
        errors.append({"field": "unit_type", "message": f"单位类别只用于二级单位，须为 {', '.join(UNIT_TYPES)} 之一"})
    if len(values.get("short_name") or "") > 32:
        errors.append({"field": "short_name", "message": "简称最多 32 个字"})
    headcount = values.get("headcount")
    if headcount not in (None, ""):
        if kind not in ("unit", "grid"):
            errors.append({"field": "headcount", "message": "人数只用于二级单位和网格"})
        elif not str(headcount).strip().isdigit() or not 0 <= int(str(headcount).strip()) <= 1_000_000:
            errors.append({"field": "headcount", "message": "人数须为 0 到 1000000 之间的整数"})
    if kind in ORG_KINDS:
        errors += _parent_errors(kind, parent)
    if errors:
        raise InvalidFormData(errors[0]["message"], errors)


def _parent_errors(kind: str, parent: OrgNode | None) -> list[dict]:
    needed = _REQUIRED_PARENT.get(kind)
    if parent is None:
        return [{"field": "parent_id", "message": f"{kind} 必须有上级"}] if kind != "province" and needed else []
    if needed and parent.kind != needed:
        return [{"field": "parent_id", "message": f"{kind} 的上级须为 {needed}"}]
    if _DEPTH[parent.kind] >= _DEPTH[kind]:
        return [{"field": "parent_id", "message": f"{parent.kind} 之下不能设 {kind}"}]
    return []


def add_node(session: Session, actor: User | None, now: datetime, *, kind: str, name: str, code: str,
             parent_id: int | None, short_name: str | None = None, unit_type: str | None = None) -> OrgNode:
    """A new node under `parent_id` (a root only for the system), with its materialised path."""
    parent = get_node(session, actor, parent_id) if parent_id is not None else None
    if parent is None and actor is not None:
        raise NotFound("organisation None does not exist")
    if parent is not None and not parent.active:
        raise Conflict(f"上级 {parent.name} 已停用")
    values = {"name": name, "code": code, "short_name": short_name, "unit_type": unit_type}
    _check_fields(session, kind, values, parent, None)
    node = OrgNode(kind=kind, name=name.strip(), code=code.strip(), short_name=(short_name or None),
                   unit_type=unit_type or None, parent_id=parent.id if parent else None, path="/", active=True)
    session.add(node)
    session.flush()
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    record_admin_change(session, now, actor.id if actor else None, "org_added", target="org", target_id=node.id,
                        after=_snapshot(node))
    return node


def update_node(session: Session, actor: User | None, now: datetime, org_id: int, changes: dict) -> OrgNode:
    """Change a node's name, short name, code, unit type or headcount."""
    node = get_node(session, actor, org_id)
    before = _snapshot(node)
    values = {k: before[k] for k in EDITABLE} | {k: v for k, v in changes.items() if k in EDITABLE}
    parent = session.get(OrgNode, node.parent_id) if node.parent_id else None
    _check_fields(session, node.kind, values, parent, node.id)
    for key in EDITABLE:
        if key == "headcount":
            node.headcount = None if values[key] in (None, "") else int(str(values[key]).strip())
            continue
        setattr(node, key, (values[key].strip() if isinstance(values[key], str) else values[key]) or
                (None if key in ("short_name", "unit_type") else values[key]))
    session.flush()
    record_admin_change(session, now, actor.id if actor else None, "org_updated", target="org", target_id=node.id,
                        before=before, after=_snapshot(node))
    return node


def move_node(session: Session, actor: User | None, now: datetime, org_id: int, new_parent_id: int) -> OrgNode:
    """Put a node (and its whole subtree) under another parent, rewriting every path below in one UPDATE."""
    node = get_node(session, actor, org_id)
    parent = get_node(session, actor, new_parent_id)
    if parent.path.startswith(node.path):
        raise InvalidFormData("不能移到自身或其下级之下", [{"field": "parent_id", "message": "不能移到自身或其下级之下"}])
    errors = _parent_errors(node.kind, parent)
    if errors:
        raise InvalidFormData(errors[0]["message"], errors)
    before = _snapshot(node)
    old_path, new_path = node.path, f"{parent.path}{node.id}/"
    session.execute(update(OrgNode).where(OrgNode.path.startswith(old_path))
                    .values(path=literal(new_path, String) + func.substr(OrgNode.path, len(old_path) + 1))
                    .execution_options(synchronize_session=False))
    node.parent_id = parent.id
    session.flush()
    session.expire_all()
    node = session.get(OrgNode, org_id)
    record_admin_change(session, now, actor.id if actor else None, "org_moved", target="org", target_id=node.id,
                        before=before | {"path": old_path}, after=_snapshot(node) | {"path": node.path})
    return node


@dataclass
class OpenWork:
    """What keeps a node from being deactivated: open tasks, open hazards and active people under it."""

    task_ids: list[int] = field(default_factory=list)
    hazard_ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.task_ids or self.hazard_ids or self.user_ids)

    def as_dict(self) -> dict:
        return {"tasks": self.task_ids, "hazards": self.hazard_ids, "users": self.user_ids}


LIST_LIMIT = 200


def open_work(session: Session, node: OrgNode) -> OpenWork:
    """Open tasks offered to or held at the subtree, its open hazards and its active users (at most 200 each)."""
    under = select(OrgNode.id).where(OrgNode.path.startswith(node.path))
    tasks = session.scalars(select(HumanTask.id).where(HumanTask.state == TaskState.READY,
                                                       HumanTask.candidate_org_id.in_(under))
                            .order_by(HumanTask.id).limit(LIST_LIMIT))
    hazards = session.scalars(select(Hazard.id).where(Hazard.closed_at.is_(None), Hazard.unit_id.in_(under))
                              .order_by(Hazard.id).limit(LIST_LIMIT))
    users = session.scalars(select(User.id).where(User.active.is_(True), User.org_id.in_(under))
                            .order_by(User.id).limit(LIST_LIMIT))
    return OpenWork(list(tasks), list(hazards), list(users))


def set_active(session: Session, actor: User | None, now: datetime, org_id: int, active: bool) -> OrgNode:
    """Deactivate a node (refused with the list of its open work while it has any) or reactivate it."""
    node = get_node(session, actor, org_id)
    if node.active == active:
        return node
    if not active:
        work = open_work(session, node)
        if work:
            raise Conflict(f"{node.name} 仍有 {len(work.task_ids)} 项待办任务、{len(work.hazard_ids)} 条未销号隐患、"
                           f"{len(work.user_ids)} 名在用人员，须先移交或停用后再停用本组织"
                           f"（任务 {work.task_ids[:20]}，隐患 {work.hazard_ids[:20]}，人员 {work.user_ids[:20]}）",
                           open_work=work.as_dict())
    elif node.parent_id is not None and not session.get(OrgNode, node.parent_id).active:
        raise Conflict("上级已停用，须先启用上级")
    before = _snapshot(node)
    if active:
        node.active = True
    else:  # the whole subtree goes with it
        session.execute(update(OrgNode).where(OrgNode.path.startswith(node.path)).values(active=False)
                        .execution_options(synchronize_session=False))
        session.refresh(node)
    record_admin_change(session, now, actor.id if actor else None, "org_activated" if active else "org_deactivated",
                        target="org", target_id=node.id, before=before, after=_snapshot(node))
    return node


def hand_over(session: Session, actor: User | None, now: datetime, from_id: int, to_id: int) -> dict:
    """Move the open tasks and open hazards of a node to another active node of the same kind and school."""
    source, target = get_node(session, actor, from_id), get_node(session, actor, to_id)
    if source.id == target.id or source.kind != target.kind or not target.active:
        raise InvalidFormData("须移交给另一个同级、在用的组织", [{"field": "to", "message": "须移交给另一个同级、在用的组织"}])
    if source.kind in ("unit", "grid") and _school_id(source) != _school_id(target):
        raise InvalidFormData("二级单位只能移交给本校的单位", [{"field": "to", "message": "二级单位只能移交给本校的单位"}])
    open_here = (Hazard.closed_at.is_(None), Hazard.unit_id == source.id)
    # The hazards' instances are locked with the tasks' (one ordered pass), before either kind of row changes.
    tasks = lock_tasks_where(session, HumanTask.state == TaskState.READY, HumanTask.candidate_org_id == source.id,
                             also_instances=select(Hazard.instance_id).where(*open_here))
    for task in tasks:
        task.candidate_org_id = target.id
    hazards = session.execute(update(Hazard).where(*open_here)
                              .values(unit_id=target.id).execution_options(synchronize_session=False))
    moved = {"tasks": len(tasks), "hazards": hazards.rowcount}
    record_admin_change(session, now, actor.id if actor else None, "org_handed_over", target="org",
                        target_id=source.id, before={"org_id": source.id}, after={"org_id": target.id, **moved})
    return moved


def _school_id(node: OrgNode) -> int:
    # A unit's path is "/province/.../school/unit/", a grid's one step longer.
    ids = node.ancestor_ids()
    return ids[-2] if node.kind == "unit" else ids[-3]


def list_nodes(session: Session, actor: User | None, *, parent_id: int | None = None, kind: str | None = None,
               active: bool | None = None, after_path: str | None = None, limit: int = 100) -> list[OrgNode]:
    """Nodes the actor administers, in tree order, keyset-paginated on the path."""
    stmt = select(OrgNode).order_by(OrgNode.path).limit(limit)
    stmt = scoped(session, actor, stmt)
    if stmt is None:
        return []
    if parent_id is not None:
        stmt = stmt.where(OrgNode.parent_id == parent_id)
    if kind:
        stmt = stmt.where(OrgNode.kind == kind)
    if active is not None:
        stmt = stmt.where(OrgNode.active.is_(active))
    if after_path:
        stmt = stmt.where(OrgNode.path > after_path)
    return list(session.scalars(stmt))
