"""`rectiflow org`, `user` and `admin`: the org tree and people, one by one or from Excel/CSV, and the first admin.

The command line acts as the system: it may change any node (and records every change in the audit log with no actor).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from sqlalchemy import select

from engine.admin import first_run, imports, people
from engine.admin import orgs as org_admin
from engine.infra.errors import NotFound, RectiflowError
from engine.org import accounts
from engine.org.models import ORG_KINDS, ROLES, UNIT_TYPES, OrgNode, User
from web.cli.admin import _fail, _org

_ORG = "Organisation code (e.g. gs-lz-cg-xdzy) or id."


def _user(s, value: str) -> User:
    user = s.scalars(select(User).where(User.username == value)).first() or accounts.find_login(s, value)
    if user is None:
        raise NotFound(f"no user {value!r}")
    return user


def _run(obj, verb):
    """One unit of work around `verb(session, now)`; an engine refusal becomes a clean CLI error."""
    try:
        with obj.services.uow() as uow:
            result = verb(uow.session, obj.services.clock.now())
            uow.commit()
            return result
    except RectiflowError as exc:
        _fail(exc)


def _progress(label: str):
    """A click progress bar fed by the import's (done, total) callback; prints the rate at the end."""
    state = {"bar": None, "done": 0, "start": time.monotonic()}

    def tick(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state["done"])
        state["done"] = done

    def finish() -> None:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
        seconds = max(time.monotonic() - state["start"], 1e-6)
        click.echo(f"{state['done']} rows in {seconds:.1f} s ({state['done'] / seconds:.0f} rows/s)", err=True)
    return tick, finish


def _export(rows, output: str) -> None:
    if output.lower().endswith(".csv"):
        imports.write_csv(rows, Path(output))
    else:
        imports.write_xlsx(rows, output)


# -- org -----------------------------------------------------------------------------------------
@click.group("org")
def org_cmd() -> None:
    """The organisation tree: province → city → county → school → unit (二级学院, 机关处室, 附属单位) → grid."""


@org_cmd.command("add")
@click.option("--kind", type=click.Choice(ORG_KINDS), required=True)
@click.option("--name", required=True)
@click.option("--code", required=True, help="Unique code, e.g. gs-lz-cg-xdzy-tw.")
@click.option("--parent", help=_ORG + " Omit only for a new root.")
@click.option("--short-name", help="简称, used in notice numbers.")
@click.option("--unit-type", type=click.Choice(UNIT_TYPES), help="Units only: college, office or affiliate.")
@click.pass_obj
def org_add(obj, kind, name, code, parent, short_name, unit_type) -> None:
    """Add a node."""
    node = _run(obj, lambda s, now: org_admin.add_node(
        s, None, now, kind=kind, name=name, code=code, parent_id=_org(s, parent).id if parent else None,
        short_name=short_name, unit_type=unit_type))
    click.echo(f"org {node.id} {node.code} {node.name} added")


@org_cmd.command("list")
@click.option("--under", help=_ORG + " Default: the whole tree.")
@click.option("--all", "show_all", is_flag=True, help="Include deactivated nodes.")
@click.pass_obj
def org_list(obj, under, show_all) -> None:
    """The tree, indented, with id, code, kind and unit type."""
    with obj.services.uow() as uow:
        s = uow.session
        top = _org(s, under) if under else None
        stmt = select(OrgNode).order_by(OrgNode.path)
        if top is not None:
            stmt = stmt.where(OrgNode.path.startswith(top.path))
        if not show_all:
            stmt = stmt.where(OrgNode.active.is_(True))
        for node in s.scalars(stmt.execution_options(yield_per=1000)):
            depth = node.path.count("/") - 2
            extra = f" [{node.unit_type}]" if node.unit_type else ""
            state = "" if node.active else " (deactivated)"
            click.echo(f"{'  ' * depth}{node.id:>6} {node.code} {node.kind}{extra} {node.name}{state}")


@org_cmd.command("update")
@click.argument("org")
@click.option("--name")
@click.option("--code")
@click.option("--short-name")
@click.option("--unit-type", type=click.Choice(UNIT_TYPES))
@click.option("--headcount", type=click.IntRange(0, 1_000_000), help="Units and grids: how many people.")
@click.pass_obj
def org_update(obj, org, name, code, short_name, unit_type, headcount) -> None:
    """Change a node's name, code, short name, unit type or headcount."""
    changes = {k: v for k, v in {"name": name, "code": code, "short_name": short_name,
                                 "unit_type": unit_type, "headcount": headcount}.items() if v is not None}
    node = _run(obj, lambda s, now: org_admin.update_org(s, None, now, _org(s, org).id, changes))
    click.echo(f"org {node.id} {node.code} updated")


@org_cmd.command("move")
@click.argument("org")
@click.option("--to", "parent", required=True, help="The new parent: " + _ORG)
@click.pass_obj
def org_move(obj, org, parent) -> None:
    """Put a node and everything below it under another parent."""
    node = _run(obj, lambda s, now: org_admin.move_org(s, None, now, _org(s, org).id, _org(s, parent).id))
    click.echo(f"org {node.id} {node.code} moved under {node.parent_id}")


@org_cmd.command("deactivate")
@click.argument("org")
@click.pass_obj
def org_deactivate(obj, org) -> None:
    """Deactivate a node and its subtree (refused, with the list, while it has open tasks, hazards or people)."""
    node = _run(obj, lambda s, now: org_admin.set_active(s, None, now, _org(s, org).id, False))
    click.echo(f"org {node.id} {node.code} deactivated")


@org_cmd.command("reactivate")
@click.argument("org")
@click.pass_obj
def org_reactivate(obj, org) -> None:
    """Take a deactivated node back into use."""
    node = _run(obj, lambda s, now: org_admin.set_active(s, None, now, _org(s, org).id, True))
    click.echo(f"org {node.id} {node.code} reactivated")


@org_cmd.command("hand-over")
@click.argument("org")
@click.option("--to", "target", required=True, help="The node that takes the open work: " + _ORG)
@click.pass_obj
def org_hand_over(obj, org, target) -> None:
    """Move a node's open tasks and unclosed hazards to another node of the same kind and school."""
    moved = _run(obj, lambda s, now: org_admin.hand_over(s, None, now, _org(s, org).id, _org(s, target).id))
    click.echo(f"{moved['tasks']} tasks and {moved['hazards']} hazards handed over")


@org_cmd.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def org_import(obj, file) -> None:
    """Add the nodes of an .xlsx/.csv file (上级代码, 代码, 名称, 简称, 类型): all rows or none."""
    path = Path(file)
    tick, finish = _progress("importing organisations")
    try:
        rows = imports.read_rows(path.name, path.read_bytes(), imports.ORG_COLUMNS)
    except RectiflowError as exc:
        _fail(exc)
    result = _run(obj, lambda s, now: imports.import_orgs(s, None, now, rows, tick, file_name=path.name))
    finish()
    click.echo(f"{result.created} organisations imported")


@org_cmd.command("export")
@click.option("--under", help=_ORG + " Default: the whole tree.")
@click.option("-o", "--output", required=True, help="Target .xlsx or .csv file (the import's layout).")
@click.pass_obj
def org_export(obj, under, output) -> None:
    """Write the tree in the import layout (streamed: constant memory)."""
    try:
        with obj.services.uow() as uow:
            _export(imports.org_rows(uow.session, None, under), output)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"written {output}")


# -- user ----------------------------------------------------------------------------------------
@click.group("user")
def user_cmd() -> None:
    """People: create, edit, deactivate, role grants, roster import and export."""


def _roles(s, values: tuple[str, ...]) -> list[tuple[str, int]]:
    out = []
    for value in values:
        role, _, at = value.partition("@")
        if role not in ROLES or not at:
            raise click.BadParameter(f"{value!r}: ROLE@ORG with ROLE one of {', '.join(ROLES)}", param_hint="--role")
        out.append((role, _org(s, at).id))
    return out


@user_cmd.command("add")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--org", required=True, help="Home node: " + _ORG)
@click.option("--role", "roles", multiple=True, help="ROLE@ORG, repeatable, e.g. department_staff@gs-lz-cg-xdzy-tw.")
@click.option("--employee-no", help="工号 (also accepted at sign-in).")
@click.option("--phone", help="Mobile phone (also accepted at sign-in).")
@click.option("--email")
@click.option("--password-stdin", is_flag=True, help="Read an initial password from standard input "
                                                     "(changed at first sign-in); default: none, a reset is needed.")
@click.pass_obj
def user_add(obj, username, display_name, org, roles, employee_no, phone, email, password_stdin) -> None:
    """Create a person with role grants."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    user = _run(obj, lambda s, now: people.create_user(
        s, None, now, username=username, display_name=display_name, org_id=_org(s, org).id, password=password,
        employee_no=employee_no, phone=phone, email=email, roles=_roles(s, roles)))
    click.echo(f"user {user.id} {user.username} created")


@user_cmd.command("list")
@click.option("--org", help="Home node at or under: " + _ORG)
@click.option("--role", type=click.Choice(ROLES))
@click.option("--all", "show_all", is_flag=True, help="Include deactivated people.")
@click.pass_obj
def user_list(obj, org, role, show_all) -> None:
    """People, with 工号, home node and grants."""
    with obj.services.uow() as uow:
        s = uow.session
        after = None
        while True:
            page = people.list_users(s, None, org_id=_org(s, org).id if org else None, role=role,
                                     active=None if show_all else True, after_id=after, limit=500)
            for u in page:
                grants = ", ".join(f"{g.role}@{g.org_id}" for g in u.grants)
                click.echo(f"{u.id:>6} {u.username} {u.display_name} 工号={u.employee_no or '-'} org={u.org_id}"
                           f" {'' if u.active else '(deactivated) '}{grants}")
            if len(page) < 500:
                break
            after = page[-1].id


@user_cmd.command("edit")
@click.argument("user")
@click.option("--name", "display_name")
@click.option("--employee-no")
@click.option("--phone")
@click.option("--email")
@click.option("--org", help="New home node: " + _ORG)
@click.pass_obj
def user_edit(obj, user, display_name, employee_no, phone, email, org) -> None:
    """Change a person's details."""
    def verb(s, now):
        changes = {k: v for k, v in {"display_name": display_name, "employee_no": employee_no, "phone": phone,
                                     "email": email}.items() if v is not None}
        if org:
            changes["org_id"] = _org(s, org).id
        return people.update_user(s, None, now, _user(s, user).id, changes)
    changed = _run(obj, verb)
    click.echo(f"user {changed.id} {changed.username} updated")


@user_cmd.command("deactivate")
@click.argument("user")
@click.pass_obj
def user_deactivate(obj, user) -> None:
    """Deactivate: sessions end; claimed tasks return to their groups, which are notified."""
    result = _run(obj, lambda s, now: people.set_active(s, None, now, _user(s, user).id, False))
    click.echo(f"user {result['user'].username} deactivated; {len(result['returned_tasks'])} tasks back to their "
               f"groups")


@user_cmd.command("reactivate")
@click.argument("user")
@click.pass_obj
def user_reactivate(obj, user) -> None:
    """Let a deactivated person sign in again."""
    result = _run(obj, lambda s, now: people.set_active(s, None, now, _user(s, user).id, True))
    click.echo(f"user {result['user'].username} reactivated")


@user_cmd.command("reset-password")
@click.argument("user")
@click.pass_obj
def user_reset_password(obj, user) -> None:
    """Print a one-time sign-in code for USER (sessions end; a new password is chosen at the next sign-in)."""
    code = _run(obj, lambda s, now: people.reset_password(s, None, now, _user(s, user).id))
    click.echo(code)
    click.echo("one-time code, shown once; the password must be changed when it is used", err=True)


@user_cmd.command("grant")
@click.argument("user")
@click.argument("role_at")
@click.pass_obj
def user_grant(obj, user, role_at) -> None:
    """Give ROLE@ORG, e.g. `rectiflow user grant staff_jd department_head@gs-lz-cg-xdzy-jidian`."""
    def verb(s, now):
        (role, org_id), = _roles(s, (role_at,))
        return people.grant(s, None, now, _user(s, user).id, role, org_id)
    row = _run(obj, verb)
    click.echo(f"grant {row.id} {row.role}@{row.org_id} added")


@user_cmd.command("revoke")
@click.argument("user")
@click.argument("role_at")
@click.pass_obj
def user_revoke(obj, user, role_at) -> None:
    """Take ROLE@ORG away."""
    def verb(s, now):
        (role, org_id), = _roles(s, (role_at,))
        target = _user(s, user)
        row = next((g for g in target.grants if g.role == role and g.org_id == org_id), None)
        if row is None:
            raise NotFound(f"{target.username} does not hold {role_at}")
        people.revoke(s, None, now, target.id, row.id)
    _run(obj, verb)
    click.echo(f"{role_at} revoked")


@user_cmd.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--credentials", type=click.Path(dir_okay=False),
              help="Write 姓名, 用户名, 初始密码 here (.xlsx or .csv; shown nowhere else). Default: no passwords, "
                   "people need a reset before they can sign in.")
@click.pass_obj
def user_import(obj, file, credentials) -> None:
    """Add the people of an .xlsx/.csv roster (姓名, 工号, 手机, 邮箱, 单位, 角色): all rows or none."""
    path = Path(file)
    tick, finish = _progress("importing people")
    try:
        rows = imports.read_rows(path.name, path.read_bytes(), imports.ROSTER_COLUMNS)
    except RectiflowError as exc:
        _fail(exc)
    result = _run(obj, lambda s, now: imports.import_roster(s, None, now, rows, tick, passwords=bool(credentials),
                                                             file_name=path.name))
    finish()
    if credentials:
        _export([["姓名", "用户名", "初始密码"], *map(list, result.credentials)], credentials)
        click.echo(f"initial passwords written to {credentials}; each must be changed at first sign-in", err=True)
    click.echo(f"{result.created} people imported")


@user_cmd.command("export")
@click.option("--under", help=_ORG + " Default: everyone.")
@click.option("-o", "--output", required=True, help="Target .xlsx or .csv file (the roster import's layout).")
@click.pass_obj
def user_export(obj, under, output) -> None:
    """Write the roster in the import layout (streamed: constant memory)."""
    try:
        with obj.services.uow() as uow:
            _export(imports.roster_rows(uow.session, None, under), output)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"written {output}")


# -- admin ---------------------------------------------------------------------------------------
@click.group("admin")
def admin_cmd() -> None:
    """The first administrator of an empty database."""


@admin_cmd.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--org-import", "org_file", type=click.Path(exists=True, dir_okay=False),
              help="An org file (.xlsx/.csv) imported first; the admin sits at its first root.")
@click.option("--org", help="Or an existing node: " + _ORG)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else prompted).")
@click.pass_obj
def admin_create(obj, username, display_name, org_file, org, password_stdin) -> None:
    """Create an administrator at the top of an imported (or existing) tree, in one transaction."""
    if bool(org_file) == bool(org):
        raise click.UsageError("give exactly one of --org-import and --org")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    rows = []
    if org_file:
        try:
            rows = imports.read_rows(Path(org_file).name, Path(org_file).read_bytes(), imports.ORG_COLUMNS)
        except RectiflowError as exc:
            _fail(exc)

    def verb(s, now):
        return first_run.create_first_admin(
            s, now, username=username, display_name=display_name, password=password,
            org_rows=rows if org_file else None, file_name=Path(org_file).name if org_file else "",
            top_id=None if org_file else _org(s, org).id, only_first=False)
    user, top = _run(obj, verb)
    click.echo(f"admin {user.username} created at {top.code} {top.name}")


@admin_cmd.command("setup-code")
@click.pass_obj
def admin_setup_code(obj) -> None:
    """Print the first-run page's setup code (/setup works only while no administrator exists)."""
    with obj.services.uow() as uow:
        if first_run.has_admin(uow.session):
            raise click.ClickException("an administrator exists already: /setup is closed")
    click.echo(first_run.setup_code(obj.settings.secret_key))


COMMANDS = (org_cmd, user_cmd, admin_cmd)
