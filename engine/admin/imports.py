"""Bulk onboarding: the org tree and the roster from Excel or CSV, all or nothing, and both exported in the same layout.

Org file columns: 上级代码, 代码, 名称, 简称, 类型 (省 市 区县 学校 二级学院 机关处室 附属单位 单位 网格).
Roster columns: 姓名, 工号, 手机, 邮箱, 单位 (org code), 角色 (Chinese names or codes, several separated by 、 or ;
`角色@代码` grants at another node). Every row is checked first; one bad row writes nothing and the answer lists
every problem with its line number. Rows are then inserted in batches in the caller's transaction.
"""
from __future__ import annotations

import csv
import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

import openpyxl
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from engine.admin.people import UNUSABLE_PASSWORD
from engine.admin.scope import admin_paths, record_admin_change
from engine.infra.errors import InvalidFormData, NotFound
from engine.infra.xlsx import csv_safe_row, csv_text, safe_row
from engine.org import accounts
from engine.org.models import ROLES, OrgNode, RoleGrant, User

ORG_COLUMNS = ("上级代码", "代码", "名称", "简称", "类型")
ROSTER_COLUMNS = ("姓名", "工号", "手机", "邮箱", "单位", "角色")
# 类型 ↔ (kind, unit_type)
ORG_TYPES = {"省": ("province", None), "市": ("city", None), "区县": ("county", None), "学校": ("school", None),
             "二级学院": ("unit", "college"), "机关处室": ("unit", "office"), "附属单位": ("unit", "affiliate"),
             "单位": ("unit", None), "网格": ("grid", None)}
TYPE_OF = {v: k for k, v in ORG_TYPES.items()}
ROLE_NAMES = {"部门工作人员": "department_staff", "网格安全员": "grid_officer", "部门负责人": "department_head",
              "保卫处": "security_office", "联合检查组": "inspector", "校领导": "leader", "督导组": "supervisor",
              "流程设计员": "process_designer", "管理员": "admin"}
ROLE_LABEL = {v: k for k, v in ROLE_NAMES.items()}
# Roles held for the whole school, granted at the user's school unless `角色@代码` says otherwise.
SCHOOL_ROLES = {"security_office", "inspector", "leader", "process_designer", "admin"}
_DEPTH = {"province": 0, "city": 1, "county": 2, "school": 3, "unit": 4, "grid": 5}
MAX_ROWS = 2_000_000
BATCH = 2_000
# With initial passwords each row costs one scrypt hash (~0.1 s): smaller batches, so progress moves every few seconds.
PASSWORD_BATCH = 25
Progress = Callable[[int, int], None]


def read_rows(name: str, data: bytes, columns: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line number, row by header) from an .xlsx or .csv upload; the header must name every column."""
    if name.lower().endswith(".xlsx"):
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise InvalidFormData("not an Excel workbook", [{"field": "file", "message": f"无法读取 Excel 文件：{exc}"}])
        raw = ([("" if c is None else str(c)).strip() for c in row] for row in book.active.iter_rows(values_only=True))
    elif name.lower().endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        raw = ([csv_text(c).strip() for c in row] for row in csv.reader(io.StringIO(text)))
    else:
        raise InvalidFormData("unsupported file type", [{"field": "file", "message": "只接受 .xlsx 或 .csv 文件"}])
    header = next(raw, None) or []
    missing = [c for c in columns if c not in header]
    if missing:
        raise InvalidFormData("header incomplete", [{"field": "file", "line": 1,
                                                     "message": f"表头缺少：{'、'.join(missing)}"}])
    index = {c: header.index(c) for c in columns}
    rows = []
    for line, cells in enumerate(raw, start=2):
        if not any(cells):
            continue
        rows.append((line, {c: (cells[i] if i < len(cells) else "") for c, i in index.items()}))
        if len(rows) > MAX_ROWS:
            raise InvalidFormData("too many rows", [{"field": "file", "message": f"最多 {MAX_ROWS} 行"}])
    return rows


def _error(line: int, column: str, message: str) -> dict:
    return {"field": column, "line": line, "message": f"第 {line} 行 {column}：{message}"}


def _raise(errors: list[dict]) -> None:
    if errors:
        raise InvalidFormData(f"{len(errors)} 处错误，未导入任何数据", errors[:500])


def _scope_nodes(session: Session, actor: User | None, codes: set[str]) -> dict[str, OrgNode]:
    """The existing nodes with these codes that the actor administers (all of them for the system)."""
    found = {}
    code_list = sorted(codes)
    for i in range(0, len(code_list), 1000):
        found.update({n.code: n for n in session.scalars(select(OrgNode).where(OrgNode.code.in_(code_list[i:i + 1000])))})
    if actor is None:
        return found
    paths = admin_paths(session, actor)
    return {c: n for c, n in found.items() if any(n.path.startswith(p) for p in paths)}


@dataclass
class ImportResult:
    created: int = 0
    credentials: list[tuple[str, str, str]] = field(default_factory=list)  # (姓名, 用户名, 初始密码), shown once


def import_orgs(session: Session, actor: User | None, now: datetime, rows: list[tuple[int, dict]],
                progress: Progress | None = None, file_name: str = "") -> ImportResult:
    """Add the org nodes of the rows (parents before children: a row may name an earlier row's code)."""
    codes = {r["代码"] for _, r in rows if r["代码"]}
    parents_wanted = {r["上级代码"] for _, r in rows if r["上级代码"]}
    existing_all = _existing_codes(session, codes)
    existing = _scope_nodes(session, actor, parents_wanted - codes)
    errors, seen, kinds = [], set(), {}
    for line, r in rows:
        code, parent, kind_name = r["代码"], r["上级代码"], r["类型"]
        if not code:
            errors.append(_error(line, "代码", "不能为空"))
        elif code in seen or code in existing_all:
            errors.append(_error(line, "代码", f"{code} 重复或已存在"))
        if not r["名称"]:
            errors.append(_error(line, "名称", "不能为空"))
        if len(r["名称"]) > 200 or len(r["简称"]) > 32 or len(code) > 64:
            errors.append(_error(line, "名称", "名称最多 200 字、简称最多 32 字、代码最多 64 字"))
        if kind_name not in ORG_TYPES:
            errors.append(_error(line, "类型", f"须为 {'、'.join(ORG_TYPES)} 之一"))
            kind = None
        else:
            kind = ORG_TYPES[kind_name][0]
        parent_kind = kinds.get(parent) or (existing[parent].kind if parent in existing else None)
        if parent and parent_kind is None:
            errors.append(_error(line, "上级代码", f"{parent} 不存在、不在您的管理范围或在本行之后"))
        elif not parent and (actor is not None or kind in ("unit", "grid")):
            # Administrators import under the nodes they administer; only the first run makes new roots.
            errors.append(_error(line, "上级代码", "不能为空"))
        elif kind and parent_kind and (_DEPTH[parent_kind] >= _DEPTH[kind] or
                                       (kind == "unit" and parent_kind != "school") or
                                       (kind == "grid" and parent_kind != "unit")):
            errors.append(_error(line, "类型", f"{TYPE_OF.get((parent_kind, None), parent_kind)} 之下不能设 {kind_name}"))
        seen.add(code)
        if kind:
            kinds[code] = kind
    _raise(errors)
    paths = {code: node.path for code, node in existing.items()}
    ids = {code: node.id for code, node in existing.items()}
    # Level by level: every row whose parent is known goes in one INSERT ... RETURNING per batch, then one
    # executemany sets the batch's paths (they need the new ids). A tree of depth d costs about 2·d·(rows/batch)
    # statements, never one per row.
    result = ImportResult()
    pending = rows
    while pending:
        ready = [(line, r) for line, r in pending if not r["上级代码"] or r["上级代码"] in ids]
        pending = [(line, r) for line, r in pending if r["上级代码"] and r["上级代码"] not in ids]
        for start in range(0, len(ready), BATCH):
            batch = ready[start:start + BATCH]
            values = [{"kind": ORG_TYPES[r["类型"]][0], "unit_type": ORG_TYPES[r["类型"]][1], "name": r["名称"],
                       "short_name": r["简称"] or None, "code": r["代码"], "path": "/", "active": True,
                       "parent_id": ids.get(r["上级代码"])} for _, r in batch]
            new_ids = session.scalars(insert(OrgNode).returning(OrgNode.id, sort_by_parameter_order=True),
                                      values).all()
            _set_paths(session, batch, new_ids, ids, paths)
            result.created += len(batch)
            if progress:
                progress(result.created, len(rows))
    record_admin_change(session, now, actor.id if actor else None, "orgs_imported", target="file", target_id=0,
                        after={"file": file_name, "created": result.created})
    return result


def _existing_codes(session: Session, codes: set[str]) -> set[str]:
    found, code_list = set(), sorted(codes)
    for i in range(0, len(code_list), 10_000):
        found |= set(session.scalars(select(OrgNode.code).where(OrgNode.code.in_(code_list[i:i + 10_000]))))
    return found


def _set_paths(session, batch, new_ids, ids, paths) -> None:
    updates = []
    for (_, r), new_id in zip(batch, new_ids):
        ids[r["代码"]] = new_id
        paths[r["代码"]] = f"{paths.get(r['上级代码'], '/')}{new_id}/"
        updates.append({"id": new_id, "path": paths[r["代码"]]})
    session.execute(update(OrgNode), updates)  # ORM bulk UPDATE by primary key: one executemany


def _role_list(text: str) -> list[tuple[str, str | None]]:
    out = []
    for part in re.split(r"[、;；,，]", text):
        part = part.strip()
        if part:
            role, _, at = part.partition("@")
            out.append((ROLE_NAMES.get(role.strip(), role.strip()), at.strip() or None))
    return out


def import_roster(session: Session, actor: User | None, now: datetime, rows: list[tuple[int, dict]],
                  progress: Progress | None = None, *, passwords: bool = True, file_name: str = "") -> ImportResult:
    """Add the people of the rows with their grants; each gets a one-time initial password (or none)."""
    units = {r["单位"] for _, r in rows} | {at for _, r in rows for _, at in _role_list(r["角色"]) if at}
    nodes = _scope_nodes(session, actor, {u for u in units if u})
    errors, seen = [], {}
    taken = _taken(session, rows)
    for line, r in rows:
        for column in ("姓名", "工号", "单位"):
            if not r[column]:
                errors.append(_error(line, column, "不能为空"))
        for column, key in (("工号", "employee_no"), ("手机", "phone")):
            value = r[column]
            if value and (value in taken[key] or (key, value) in seen):
                errors.append(_error(line, column, f"{value} 重复或已被使用"))
            seen[(key, value)] = line
        if r["工号"] and r["工号"] in taken["username"]:
            errors.append(_error(line, "工号", f"用户名 {r['工号']} 已被使用"))
        if r["邮箱"] and "@" not in r["邮箱"]:
            errors.append(_error(line, "邮箱", "格式不正确"))
        if r["单位"] and r["单位"] not in nodes:
            errors.append(_error(line, "单位", f"{r['单位']} 不存在或不在您的管理范围"))
        roles = _role_list(r["角色"])
        if not roles:
            errors.append(_error(line, "角色", "至少一个角色"))
        for role, at in roles:
            if role not in ROLES:
                errors.append(_error(line, "角色", f"未知角色 {role}"))
            if at and at not in nodes:
                errors.append(_error(line, "角色", f"{at} 不存在或不在您的管理范围"))
    _raise(errors)
    schools = accounts.nearest_ids(session, nodes.values(), "school")
    result = ImportResult()
    dummy = UNUSABLE_PASSWORD
    size = PASSWORD_BATCH if passwords else BATCH
    for start in range(0, len(rows), size):
        batch = rows[start:start + size]
        plain = [secrets.token_urlsafe(9) if passwords else None for _ in batch]
        values = [{"username": r["工号"], "display_name": r["姓名"], "employee_no": r["工号"],
                   "phone": r["手机"] or None, "email": r["邮箱"] or None, "org_id": nodes[r["单位"]].id,
                   "password_hash": accounts.hash_password(p) if p else dummy, "active": True, "locale": "zh_CN",
                   "created_at": now, "must_change_password": True, "session_version": 0, "failed_logins": 0}
                  for (_, r), p in zip(batch, plain)]
        new_ids = session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), values).all()
        grants = []
        for (_, r), user_id in zip(batch, new_ids):
            home = nodes[r["单位"]]
            for role, at in _role_list(r["角色"]):
                scope = nodes[at].id if at else (schools.get(home.id, home.id) if role in SCHOOL_ROLES else home.id)
                grants.append({"user_id": user_id, "role": role, "org_id": scope})
        if grants:
            session.execute(insert(RoleGrant), grants)
        result.credentials += [(r["姓名"], r["工号"], p) for (_, r), p in zip(batch, plain) if p]
        result.created += len(batch)
        if progress:
            progress(result.created, len(rows))
    record_admin_change(session, now, actor.id if actor else None, "roster_imported", target="file", target_id=0,
                        after={"file": file_name, "created": result.created})
    return result


def _taken(session: Session, rows) -> dict[str, set[str]]:
    values = sorted({r["工号"] for _, r in rows if r["工号"]} | {r["手机"] for _, r in rows if r["手机"]})
    taken = {"username": set(), "employee_no": set(), "phone": set()}
    for i in range(0, len(values), 5000):
        chunk = values[i:i + 5000]
        for u, e, p in session.execute(select(User.username, User.employee_no, User.phone).where(
                or_(User.username.in_(chunk), User.employee_no.in_(chunk), User.phone.in_(chunk)))):
            taken["username"].add(u)
            taken["employee_no"].add(e)
            taken["phone"].add(p)
    return taken


def _top(session: Session, actor: User | None, under: str | None) -> str:
    if under is None:
        paths = admin_paths(session, actor) if actor is not None else ("/",)
        return paths[0] if paths else "-"
    node = session.scalars(select(OrgNode).where(OrgNode.code == under)).first()
    if node is None or (actor is not None and not any(node.path.startswith(p) for p in admin_paths(session, actor))):
        raise NotFound(f"organisation {under} does not exist")
    return node.path


def org_rows(session: Session, actor: User | None, under: str | None = None) -> Iterator[list[str]]:
    """The org file's rows (header first) for the subtree, streamed in tree order."""
    path = _top(session, actor, under)
    yield list(ORG_COLUMNS)
    parent_code = {}
    stmt = select(OrgNode).where(OrgNode.path.startswith(path)).order_by(OrgNode.path).execution_options(yield_per=2000)
    for node in session.scalars(stmt):
        parent_code[node.id] = node.code
        yield [parent_code.get(node.parent_id, ""), node.code, node.name, node.short_name or "",
               TYPE_OF.get((node.kind, node.unit_type), TYPE_OF.get((node.kind, None), node.kind))]


def roster_rows(session: Session, actor: User | None, under: str | None = None) -> Iterator[list[str]]:
    """The roster's rows (header first) for people whose home lies in the subtree; grants elsewhere as 角色@代码."""
    path = _top(session, actor, under)
    yield list(ROSTER_COLUMNS)
    stmt = (select(User, OrgNode.code).join(OrgNode, OrgNode.id == User.org_id)
            .where(OrgNode.path.startswith(path)).order_by(User.id).execution_options(yield_per=1000))
    codes: dict[int, str] = {}
    for user, home_code in session.execute(stmt):
        missing = {g.org_id for g in user.grants} - set(codes)
        if missing:
            codes.update(session.execute(select(OrgNode.id, OrgNode.code).where(OrgNode.id.in_(missing))).all())
        roles = "、".join(ROLE_LABEL.get(g.role, g.role) + ("" if codes[g.org_id] == home_code else f"@{codes[g.org_id]}")
                         for g in user.grants)
        yield [user.display_name, user.employee_no or user.username, user.phone or "", user.email or "", home_code,
               roles]


def write_xlsx(rows: Iterable[list[str]], target) -> None:
    """Stream rows into a write-only workbook (constant memory whatever the row count)."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(safe_row(sheet, row))
    book.save(target)


def write_csv(rows: Iterable[list[str]], target: Path) -> None:
    """Rows as a UTF-8 CSV file (with BOM, for Excel), every text that would start a formula made inert."""
    with open(target, "w", newline="", encoding="utf-8-sig") as handle:
        csv.writer(handle).writerows(csv_safe_row(row) for row in rows)
