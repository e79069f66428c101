"""Administration over the API: the org tree and people, for administrators within the nodes they administer."""
from __future__ import annotations

import io

import marshmallow as ma
from flask.views import MethodView
from flask import current_app, send_file

from engine.admin import imports, people
from engine.admin import orgs as org_admin
from engine.admin.scope import admin_paths
from engine.infra.errors import InvalidFormData, NotAllowed
from engine.org.models import ORG_KINDS, ROLES, UNIT_TYPES, User
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import ApiErrorSchema, FilePart, Strict

blp = api_blueprint("api_admin", __name__, "Administration: the organisation tree, people and their role grants "
                                          "(administrators, in the nodes they administer and below)")

MAX_ID = 2**31 - 1
_ID = {"validate": ma.validate.Range(min=1, max=MAX_ID)}


def _admin(s):
    user = api_user(s)
    if not admin_paths(s, user):
        raise NotAllowed("only administrators manage organisations and people")
    return user


class OrgNodeSchema(ma.Schema):
    id = ma.fields.Integer()
    parent_id = ma.fields.Integer(allow_none=True)
    kind = ma.fields.String(metadata={"description": ", ".join(ORG_KINDS)})
    name = ma.fields.String()
    short_name = ma.fields.String(allow_none=True, metadata={"description": "used in notice numbers"})
    code = ma.fields.String()
    unit_type = ma.fields.String(allow_none=True, metadata={"description": "units only: " + ", ".join(UNIT_TYPES)})
    headcount = ma.fields.Integer(allow_none=True, metadata={"description": "units and grids: how many people "
                                                                            "(drills and safety education count against it)"})
    active = ma.fields.Boolean()
    path = ma.fields.String(metadata={"description": "materialised path of ids, root first"})


class OrgListArgs(Strict):
    parent_id = ma.fields.Integer(**_ID)
    kind = ma.fields.String(validate=ma.validate.OneOf(ORG_KINDS))
    active = ma.fields.Boolean()
    after_path = ma.fields.String(validate=ma.validate.Regexp(r"^[/0-9]{1,512}$"),
                                  metadata={"description": "keyset paging: the last path of the previous page"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=500))


class OrgCreateSchema(Strict):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(ORG_KINDS))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    parent_id = ma.fields.Integer(required=True, **_ID)
    short_name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    unit_type = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(UNIT_TYPES))


class OrgPatchSchema(Strict):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    code = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    short_name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    unit_type = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(UNIT_TYPES))
    headcount = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=0, max=1_000_000),
                                  metadata={"description": "units and grids: how many people"})
    parent_id = ma.fields.Integer(metadata={"description": "move the node (and its subtree) here"}, **_ID)
    active = ma.fields.Boolean(metadata={"description": "false deactivates (refused with the open work listed)"})


class HandOverSchema(Strict):
    to_org_id = ma.fields.Integer(required=True, **_ID)


class HandOverResultSchema(ma.Schema):
    tasks = ma.fields.Integer()
    hazards = ma.fields.Integer()


@blp.route("/orgs", methods=["GET"])
@blp.arguments(OrgListArgs, location="query")
@blp.response(200, OrgNodeSchema(many=True))
@blp.alt_response(403, description="not an administrator", schema=ApiErrorSchema)
def list_orgs(args):
    """Nodes you administer, in tree order (keyset paging on `path`)."""
    with services().uow() as uow:
        s = uow.session
        return org_admin.list_nodes(s, _admin(s), **args)


@blp.route("/orgs/<int:org_id>")
class OrgResource(MethodView):
    """One record: read it, or change it."""

    @blp.response(200, OrgNodeSchema)
    @blp.alt_response(404, description="no such node in your scope", schema=ApiErrorSchema)
    def get(self, org_id: int):
        """One node you administer."""
        with services().uow() as uow:
            s = uow.session
            return org_admin.get_node(s, _admin(s), org_id)

    @blp.arguments(OrgPatchSchema)
    @blp.response(200, OrgNodeSchema)
    @blp.alt_response(404, description="no such node in your scope", schema=ApiErrorSchema)
    @blp.alt_response(409, description="deactivation refused: the node still has open work", schema=ApiErrorSchema)
    @blp.alt_response(422, description="a field is wrong", schema=ApiErrorSchema)
    def patch(self, body, org_id: int):
        """Change, move, deactivate or reactivate a node (one transaction)."""
        svc = services()
        with svc.uow() as uow:
            s, now = uow.session, svc.clock.now()
            actor = _admin(s)
            fields = {k: v for k, v in body.items() if k in org_admin.EDITABLE}
            node = org_admin.get_node(s, actor, org_id)
            if fields:
                node = org_admin.update_node(s, actor, now, org_id, fields)
            if "parent_id" in body and body["parent_id"] != node.parent_id:
                node = org_admin.move_node(s, actor, now, org_id, body["parent_id"])
            if "active" in body:
                node = org_admin.set_active(s, actor, now, org_id, body["active"])
            uow.commit()
            return node


@blp.route("/orgs", methods=["POST"])
@blp.arguments(OrgCreateSchema)
@blp.response(201, OrgNodeSchema)
@blp.alt_response(404, description="the parent is not in your scope", schema=ApiErrorSchema)
@blp.alt_response(422, description="a field is wrong (duplicate code, kind order)", schema=ApiErrorSchema)
def create_org(body):
    """Add a node under a node you administer."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        node = org_admin.add_node(s, _admin(s), svc.clock.now(), **body)
        uow.commit()
        return node


@blp.route("/orgs/<int:org_id>/hand-over", methods=["POST"])
@blp.arguments(HandOverSchema)
@blp.response(200, HandOverResultSchema)
@blp.alt_response(404, description="a node is not in your scope", schema=ApiErrorSchema)
@blp.alt_response(422, description="not a node of the same kind and school", schema=ApiErrorSchema)
def hand_over(body, org_id: int):
    """Move the node's open tasks and unclosed hazards to another node of the same kind (and school)."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        moved = org_admin.hand_over(s, _admin(s), svc.clock.now(), org_id, body["to_org_id"])
        uow.commit()
        return moved


class GrantSchema(ma.Schema):
    id = ma.fields.Integer()
    role = ma.fields.String()
    org_id = ma.fields.Integer()


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    employee_no = ma.fields.String(allow_none=True, metadata={"description": "工号"})
    phone = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)
    org_id = ma.fields.Integer()
    active = ma.fields.Boolean()
    must_change_password = ma.fields.Boolean()
    grants = ma.fields.List(ma.fields.Nested(GrantSchema))


class UserListArgs(Strict):
    org_id = ma.fields.Integer(metadata={"description": "home node at or under this one"}, **_ID)
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    active = ma.fields.Boolean()
    q = ma.fields.String(validate=ma.validate.Length(max=100), metadata={"description": "name, 工号 or phone"})
    after_id = ma.fields.Integer(metadata={"description": "keyset paging: the last id of the previous page"}, **_ID)
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=500))


class RoleAt(Strict):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    org_id = ma.fields.Integer(required=True, **_ID)


class UserCreateSchema(Strict):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    org_id = ma.fields.Integer(required=True, **_ID)
    password = ma.fields.String(validate=ma.validate.Length(min=8, max=200), load_only=True, metadata={
        "description": "initial password (changed at first sign-in); none: the user needs a reset first"})
    employee_no = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    phone = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    email = ma.fields.Email(allow_none=True)
    roles = ma.fields.List(ma.fields.Nested(RoleAt), load_default=list)


class UserPatchSchema(Strict):
    display_name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    employee_no = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    phone = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    email = ma.fields.Email(allow_none=True)
    org_id = ma.fields.Integer(**_ID)
    active = ma.fields.Boolean(metadata={"description": "false: sessions end, claimed tasks return to their groups"})


@blp.route("/users", methods=["GET"])
@blp.arguments(UserListArgs, location="query")
@blp.response(200, UserSchema(many=True))
@blp.alt_response(403, description="not an administrator", schema=ApiErrorSchema)
def list_users(args):
    """People whose home node you administer, by id (keyset paging on `after_id`)."""
    with services().uow() as uow:
        s = uow.session
        return people.list_users(s, _admin(s), **args)


@blp.route("/users/<int:user_id>")
class UserResource(MethodView):
    """One record: read it, or change it."""

    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="no such user in your scope", schema=ApiErrorSchema)
    def get(self, user_id: int):
        """One person you administer."""
        with services().uow() as uow:
            s = uow.session
            return people.get_user(s, _admin(s), user_id)

    @blp.arguments(UserPatchSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="no such user in your scope", schema=ApiErrorSchema)
    @blp.alt_response(409, description="you cannot deactivate yourself", schema=ApiErrorSchema)
    @blp.alt_response(422, description="a field is wrong", schema=ApiErrorSchema)
    def patch(self, body, user_id: int):
        """Change a person's details, or deactivate / reactivate them (one transaction)."""
        svc = services()
        with svc.uow() as uow:
            s, now = uow.session, svc.clock.now()
            actor = _admin(s)
            active = body.pop("active", None)
            user = people.update_user(s, actor, now, user_id, body) if body else people.get_user(s, actor, user_id)
            if active is not None:
                user = people.set_active(s, actor, now, user_id, active)["user"]
            uow.commit()
            return user


@blp.route("/users", methods=["POST"])
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
@blp.alt_response(422, description="a field is wrong (taken user name, 工号 or phone; node out of scope)",
                  schema=ApiErrorSchema)
def create_user(body):
    """Create a person with role grants; they choose their own password at first sign-in."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        roles = [(r["role"], r["org_id"]) for r in body.pop("roles")]
        user = people.create_user(s, _admin(s), svc.clock.now(), roles=roles, **body)
        uow.commit()
        return user


@blp.route("/users/<int:user_id>/grants", methods=["POST"])
@blp.arguments(RoleAt)
@blp.response(201, GrantSchema)
@blp.alt_response(404, description="no such user in your scope", schema=ApiErrorSchema)
@blp.alt_response(409, description="the grant is already held", schema=ApiErrorSchema)
def add_grant(body, user_id: int):
    """Give a person a role at a node you administer."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        row = people.grant(s, _admin(s), svc.clock.now(), user_id, body["role"], body["org_id"])
        uow.commit()
        return row


@blp.route("/users/<int:user_id>/grants/<int:grant_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="no such grant in your scope", schema=ApiErrorSchema)
@blp.alt_response(409, description="you cannot revoke your own admin grant", schema=ApiErrorSchema)
def delete_grant(user_id: int, grant_id: int):
    """Take a role grant away."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        people.revoke(s, _admin(s), svc.clock.now(), user_id, grant_id)
        uow.commit()


class HolderSchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "the grant's id"})
    role = ma.fields.String()
    org_id = ma.fields.Integer()
    org_name = ma.fields.String()
    user_id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    active = ma.fields.Boolean(metadata={"description": "whether the holder's account is active"})


class GrantListArgs(Strict):
    org_id = ma.fields.Integer(metadata={"description": "grants at or under this node"}, **_ID)
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    after_id = ma.fields.Integer(metadata={"description": "keyset paging: the last grant id of the previous page"},
                                 **_ID)
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=500))


@blp.route("/grants", methods=["GET"])
@blp.arguments(GrantListArgs, location="query")
@blp.response(200, HolderSchema(many=True))
@blp.alt_response(403, description="not an administrator", schema=ApiErrorSchema)
def list_grants(args):
    """Who holds what where: role grants at the nodes you administer, by grant id (keyset paging on `after_id`)."""
    with services().uow() as uow:
        s = uow.session
        return people.list_grants(s, _admin(s), **args)


class ResetSchema(ma.Schema):
    username = ma.fields.String()
    code = ma.fields.String(metadata={"description": "one-time sign-in code, shown once; the password must be "
                                                    "changed at the sign-in it is used for"})


@blp.route("/users/<int:user_id>/password-reset", methods=["POST"])
@blp.response(201, ResetSchema)
@blp.alt_response(404, description="no such user in your scope", schema=ApiErrorSchema)
def reset_password(user_id: int):
    """Reset a person's password to a one-time code (their sessions end; they choose a new password at sign-in)."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        code = people.reset_password(s, _admin(s), svc.clock.now(), user_id)
        username = s.get(User, user_id).username
        uow.commit()
    return {"username": username, "code": code}


class ImportUpload(Strict):
    file = FilePart(required=True, metadata={"description": ".xlsx or .csv in the export's layout"})


class ImportArgs(Strict):
    passwords = ma.fields.Boolean(load_default=True, metadata={
        "description": "roster only: give each person a one-time initial password (returned once, in this answer)"})


class CredentialSchema(ma.Schema):
    name = ma.fields.String(metadata={"description": "姓名"})
    username = ma.fields.String()
    initial_password = ma.fields.String(metadata={"description": "must be changed at first sign-in"})


class ImportResultSchema(ma.Schema):
    created = ma.fields.Integer()
    credentials = ma.fields.List(ma.fields.Nested(CredentialSchema))


def _import(upload, columns, verb) -> dict:
    svc = services()
    data = upload.read(_upload_limit() + 1)
    if len(data) > _upload_limit():
        raise InvalidFormData("file too large", [{"field": "file", "message": "文件过大"}])
    rows = imports.read_rows(upload.filename or "upload.csv", data, columns)
    with svc.uow() as uow:
        s = uow.session
        result = verb(s, _admin(s), svc.clock.now(), rows, file_name=upload.filename or "")
        uow.commit()
    return {"created": result.created, "credentials": [
        {"name": n, "username": u, "initial_password": p} for n, u, p in result.credentials]}


def _upload_limit() -> int:
    return current_app.extensions["rectiflow_settings"].max_upload_bytes


@blp.route("/orgs/import", methods=["POST"])
@blp.arguments(ImportUpload, location="files", content_type="multipart/form-data")
@blp.response(201, ImportResultSchema)
@blp.alt_response(422, description="bad rows: `errors` lists each with its `line`; nothing was imported",
                  schema=ApiErrorSchema)
def import_orgs(body):
    """Add nodes under the ones you administer from an org file (上级代码, 代码, 名称, 简称, 类型), all or nothing."""
    return _import(body["file"], imports.ORG_COLUMNS, imports.import_orgs)


@blp.route("/users/import", methods=["POST"])
@blp.arguments(ImportUpload, location="files", content_type="multipart/form-data")
@blp.arguments(ImportArgs, location="query")
@blp.response(201, ImportResultSchema)
@blp.alt_response(422, description="bad rows: `errors` lists each with its `line`; nothing was imported",
                  schema=ApiErrorSchema)
def import_users(body, args):
    """Add people from a roster (姓名, 工号, 手机, 邮箱, 单位, 角色), all or nothing; initial passwords shown once."""
    return _import(body["file"], imports.ROSTER_COLUMNS,
                   lambda s, actor, now, rows, file_name: imports.import_roster(
                       s, actor, now, rows, passwords=args["passwords"], file_name=file_name))


def _download(rows, name: str):
    buffer = io.BytesIO()
    imports.write_xlsx(rows, buffer)
    return send_file(io.BytesIO(buffer.getvalue()), download_name=name, as_attachment=True,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@blp.route("/orgs/export", methods=["GET"])
@blp.response(200, description="the org file (.xlsx) of the nodes you administer, in the import layout")
def export_orgs():
    """Your part of the tree as an org file."""
    with services().uow() as uow:
        s = uow.session
        return _download(imports.org_rows(s, _admin(s)), "orgs.xlsx")


@blp.route("/users/export", methods=["GET"])
@blp.response(200, description="the roster (.xlsx) of the people you administer, in the import layout")
def export_users():
    """Your people as a roster."""
    with services().uow() as uow:
        s = uow.session
        return _download(imports.roster_rows(s, _admin(s)), "roster.xlsx")
