"""Look-back (回头看) re-inspection: the sample with each hazard's result, progress figures, and the re-inspection."""
from __future__ import annotations

import marshmallow as ma
from flask import g
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from engine.campaigns.look_back import (
    LookBacks,
    get_look_back,
    look_back_progress,
    may_reinspect,
    sample_items,
)
from engine.campaigns.models import OUTCOMES, LookBackResult
from engine.infra.errors import NotFound
from engine.org import scope as org_scope
from engine.rectification import attachments
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import ApiErrorSchema, FilePart, HazardSchema, Strict


class _FormAndFilesParser(FlaskParser):
    """`files` also reads the multipart form's text fields: the outcome, note and evidence travel in one body."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


blp = api_blueprint("api_look_back", __name__, "Look-back (回头看) re-inspection of sampled closed hazards")
blp.ARGUMENTS_PARSER = _FormAndFilesParser()
NOT_FOUND = {"description": "no such look-back in the caller's organisation scope", "schema": ApiErrorSchema}


class ReinspectArgs(Strict):
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES),
                               metadata={"description": "holds (整改到位) or reopened (found open again: 反弹)"})
    note = ma.fields.String(validate=ma.validate.Length(max=2000), metadata={"description": "复查情况"})
    deadline = ma.fields.Date(metadata={"description": "reopened: the new 整改期限 (default: the look-back's "
                                                       "rectification stage end)"})
    evidence = ma.fields.List(FilePart(), metadata={"description": "photos or documents (same types as evidence)"})


class LookBackResultSchema(ma.Schema):
    id = ma.fields.Integer()
    campaign_id = ma.fields.Integer()
    hazard_id = ma.fields.Integer()
    outcome = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    evidence = ma.fields.List(ma.fields.Integer(), metadata={"description": "attachment ids"})
    repeat_count = ma.fields.Integer(metadata={"description": "the hazard's 反弹次数 after this result"})
    instance_id = ma.fields.Integer(allow_none=True, metadata={"description": "reopened: the new rectification run"})
    by_id = ma.fields.Integer()
    at = ma.fields.DateTime()


class SampleItemSchema(ma.Schema):
    hazard = ma.fields.Nested(HazardSchema)
    result = ma.fields.Nested(LookBackResultSchema, allow_none=True)


class ProgressSchema(ma.Schema):
    sampled = ma.fields.Integer()
    reinspected = ma.fields.Integer()
    pending = ma.fields.Integer()
    holds = ma.fields.Integer()
    reopened = ma.fields.Integer()
    reclosed = ma.fields.Integer(metadata={"description": "reopened hazards closed (销号) again since"})
    still_open = ma.fields.Integer()


def _visible_look_back(s, user, campaign_id: int):
    """The look-back if it lies in the caller's scope or the caller may re-inspect it; NotFound otherwise."""
    campaign = get_look_back(s, campaign_id)
    if not (org_scope.scope_of(s, user).covers(campaign.org.path) or may_reinspect(user, campaign)):
        raise NotFound(f"look-back {campaign_id} does not exist")
    return campaign


@blp.route("/look-backs/<int:campaign_id>/sample")
@blp.response(200, SampleItemSchema(many=True))
@blp.alt_response(404, **NOT_FOUND)
def look_back_sample(campaign_id: int):
    """The sampled hazards in draw order, each with its re-inspection result (null: not re-inspected yet)."""
    with services().uow() as uow:
        s = uow.session
        _visible_look_back(s, api_user(s), campaign_id)
        items = sample_items(s, campaign_id)
        for hazard, _ in items:
            hazard.unit  # noqa: B018  (loaded now: the response is written after the session closes)
        return [{"hazard": hazard, "result": result} for hazard, result in items]


@blp.route("/look-backs/<int:campaign_id>/progress")
@blp.response(200, ProgressSchema)
@blp.alt_response(404, **NOT_FOUND)
def look_back_figures(campaign_id: int):
    """Re-inspected n of m sampled, how many held, reopened, and closed again."""
    with services().uow() as uow:
        s = uow.session
        _visible_look_back(s, api_user(s), campaign_id)
        progress = look_back_progress(s, campaign_id)
        return {**vars(progress), "pending": progress.pending, "still_open": progress.still_open}


@blp.route("/look-backs/<int:campaign_id>/hazards/<int:hazard_id>/reinspection", methods=["POST"])
@blp.arguments(ReinspectArgs, location="files", content_type="multipart/form-data")
@blp.response(201, LookBackResultSchema)
@blp.alt_response(403, description="not an organiser or inspector of the look-back, or not in its sample",
                  schema=ApiErrorSchema)
@blp.alt_response(404, **NOT_FOUND)
@blp.alt_response(409, description="this look-back already re-inspected the hazard", schema=ApiErrorSchema)
@blp.alt_response(422, description="invalid outcome, deadline or evidence file", schema=ApiErrorSchema)
def reinspect(args, campaign_id: int, hazard_id: int):
    """Record a sampled hazard's re-inspection; `reopened` starts a new rectification run (multipart form)."""
    svc = services()
    with svc.uow() as uow:
        s = uow.session
        _visible_look_back(s, api_user(s), campaign_id)
    store = attachments.store_for(svc)
    # Read one byte past the limit: enough to refuse without holding an arbitrarily large body.
    evidence = [(f.filename or "upload", f.stream.read(store.max_bytes + 1)) for f in args.get("evidence") or []]
    result = LookBacks(svc).reinspect(g.api_user_id, campaign_id, hazard_id, args["outcome"], note=args.get("note"),
                                      evidence=evidence, deadline=args.get("deadline"))
    with svc.uow() as uow:
        return uow.session.get(LookBackResult, result.id)
