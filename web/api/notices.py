"""Rectification notices (整改通知书): the scoped list, one hazard's notice, and issuing one on demand."""
from __future__ import annotations

import marshmallow as ma
from flask import g, url_for
from flask.views import MethodView

from engine.rectification import notices
from web.api.auth import api_blueprint, api_user, services
from web.api.errors import error_response
from web.api.schemas import ApiErrorSchema, OrgSchema, PageArgs, PageSchema, Strict

blp = api_blueprint("api_notices", __name__, "Rectification notices (整改通知书), numbered per school and year")


class NoticeListArgs(PageArgs):
    year = ma.fields.Integer(validate=ma.validate.Range(min=1, max=9999),
                             metadata={"description": "only this (China-time) year's notices"})


class IssueNoticeArgs(Strict):
    requirements = ma.fields.String(load_default=None, validate=ma.validate.Length(max=notices.MAX_REQUIREMENTS_CHARS),
                                    metadata={"description": "整改要求; the standard wording when omitted"})


class NoticeContentSchema(ma.Schema):
    """What the notice says, frozen when it was issued."""

    school = ma.fields.String()
    unit = ma.fields.String(metadata={"description": "to whom (责任单位)"})
    issuer = ma.fields.String(metadata={"description": "the issuing office, e.g. 保卫处"})
    location = ma.fields.String()
    check_item = ma.fields.String(allow_none=True)
    problem = ma.fields.String()
    category = ma.fields.String()
    grade = ma.fields.String(allow_none=True)
    source = ma.fields.String()
    found_on = ma.fields.String(metadata={"description": "检查时间, YYYY-MM-DD"})
    responsible_person = ma.fields.String(allow_none=True)
    temporary_measures = ma.fields.String(allow_none=True)
    requirements = ma.fields.String()


class NoticeVersionSchema(ma.Schema):
    """One version of a notice as it was served (第N版)."""

    revision = ma.fields.Integer(metadata={"description": "1 for the notice as first issued, then 2, 3, ..."})
    deadline = ma.fields.Date(allow_none=True)
    issued_at = ma.fields.DateTime()
    issued_by_id = ma.fields.Integer(allow_none=True)
    content = ma.fields.Nested(NoticeContentSchema)


class NoticeSchema(ma.Schema):
    id = ma.fields.Integer()
    hazard_id = ma.fields.Integer()
    school_id = ma.fields.Integer()
    year = ma.fields.Integer(metadata={"description": "China-time year of issuing; numbers restart each year"})
    seq = ma.fields.Integer(metadata={"description": "the school's sequence number within the year"})
    number = ma.fields.String(metadata={"description": "as printed, e.g. 某职业学院〔2026〕整改第 003 号"})
    unit_id = ma.fields.Integer()
    unit = ma.fields.Nested(OrgSchema)
    deadline = ma.fields.Date(allow_none=True)
    issued_at = ma.fields.DateTime()
    issued_by_id = ma.fields.Integer(allow_none=True)
    content = ma.fields.Nested(NoticeContentSchema)
    revision = ma.fields.Integer(metadata={"description": "the current version: re-issued (same number) when its "
                                                          "deadline or 临时处置措施 changed; earlier ones are kept"})
    print_url = ma.fields.Function(lambda n: url_for("notices.show", hazard_id=n.hazard_id),
                                   metadata={"description": "the printable A4 page (browser session)"})


class NoticeWithVersionsSchema(NoticeSchema):
    versions = ma.fields.List(ma.fields.Nested(NoticeVersionSchema),
                              metadata={"description": "every version as served, first to current"})


class NoticePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(NoticeSchema))


def _loaded(notice):
    notice.unit  # noqa: B018  (loaded now: the response is written after the session closes)
    return notice


@blp.route("/notices")
@blp.arguments(NoticeListArgs, location="query")
@blp.response(200, NoticePageSchema)
def list_notices(args):
    """Notices of hazards in the caller's organisation scope, newest number first, paginated."""
    with services().uow() as uow:
        s = uow.session
        page = notices.list_notices(s, api_user(s), year=args.get("year"), page=args["page"],
                                    per_page=args["per_page"])
        for notice in page.items:
            _loaded(notice)
        return page


@blp.route("/hazards/<int:hazard_id>/notice")
class HazardNotice(MethodView):
    @blp.response(200, NoticeWithVersionsSchema)
    @blp.alt_response(404, description="no such hazard in scope, or it has no notice", schema=ApiErrorSchema)
    def get(self, hazard_id: int):
        """The hazard's rectification notice (its current version) with every version it was served in."""
        with services().uow() as uow:
            s = uow.session
            notice = notices.visible_notice(s, api_user(s), hazard_id)
            if notice is None:
                return error_response(404, "not_found", f"hazard {hazard_id} has no rectification notice")
            notice.versions = notices.notice_versions(s, notice)  # read by the schema, not stored
            return _loaded(notice)

    @blp.arguments(IssueNoticeArgs)
    @blp.response(201, NoticeSchema)
    @blp.alt_response(403, description="only the security office of the hazard's school", schema=ApiErrorSchema)
    @blp.alt_response(409, description="the hazard already has a notice, is not registered yet, or is closed",
                      schema=ApiErrorSchema)
    def post(self, args, hazard_id: int):
        """Issue the hazard's notice now (security office), numbered in the school's sequence for this year."""
        svc = services()
        notices.issue_notice(svc, hazard_id, g.api_user_id, args.get("requirements"))
        with svc.uow() as uow:
            return _loaded(notices.notice_of(uow.session, hazard_id))


@blp.route("/hazards/<int:hazard_id>/notice/revisions/<int:revision>")
@blp.response(200, NoticeVersionSchema)
@blp.alt_response(404, description="no such hazard in scope, no notice, or no such revision", schema=ApiErrorSchema)
def notice_revision(hazard_id: int, revision: int):
    """One version of the hazard's notice as it was served (an earlier one stays readable after a re-issue)."""
    with services().uow() as uow:
        s = uow.session
        notice = notices.visible_notice(s, api_user(s), hazard_id)
        if notice is None:
            return error_response(404, "not_found", f"hazard {hazard_id} has no rectification notice")
        return notices.notice_version(s, notice, revision)
