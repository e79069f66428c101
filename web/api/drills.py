"""Emergency drills and safety education (seed 004): per unit and semester, drills held against two, class-hours
against eight and participation; a unit's records; recording education and adding drill photos."""
from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Response, g
from flask.views import MethodView

from engine.drills import queries as drill_queries
from engine.drills.service import Drills
from engine.rectification.attachments import store_for
from web.api.auth import api_blueprint, api_user, services
from web.api.schemas import ApiErrorSchema, Strict, UploadArgs

blp = api_blueprint("api_drills", __name__,
                    "Emergency drills and safety education (seed 004: 每学期至少2次应急演练、专题教育不少于8课时，全员参加)")


class SemesterArgs(Strict):
    school_id = ma.fields.Integer(load_default=None, metadata={"description": "default: the caller's school"})
    semester = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^\d{4}-S\d$"), metadata={
        "description": "2026-S1 (spring) or 2026-S2 (autumn); default the current semester"})


class UnitSemesterArgs(Strict):
    semester = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^\d{4}-S\d$"))


class UnitRowSchema(ma.Schema):
    unit_id = ma.fields.Integer()
    unit_name = ma.fields.String()
    headcount = ma.fields.Integer(allow_none=True)
    drills_held = ma.fields.Integer()
    drills_required = ma.fields.Integer()
    drill_participation = ma.fields.Float(allow_none=True, metadata={
        "description": "average share of the headcount that took part in the drills, 0..1 (null: no headcount)"})
    class_hours = ma.fields.Float()
    hours_required = ma.fields.Float()
    education_participation = ma.fields.Float(allow_none=True)
    complete = ma.fields.Boolean()


class SemesterSchema(ma.Schema):
    school_id = ma.fields.Integer()
    semester = ma.fields.String()
    first_day = ma.fields.Date()
    last_day = ma.fields.Date()
    units = ma.fields.List(ma.fields.Nested(UnitRowSchema))


class PhotoSchema(ma.Schema):
    id = ma.fields.Integer()
    drill_id = ma.fields.Integer()
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    created_at = ma.fields.DateTime()


class DrillSchema(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    instance_id = ma.fields.Integer(allow_none=True)
    semester_key = ma.fields.String(allow_none=True)
    sequence = ma.fields.Integer()
    planned_on = ma.fields.Date(allow_none=True)
    held_on = ma.fields.Date()
    scenario = ma.fields.String()
    participants = ma.fields.Integer()
    headcount = ma.fields.Integer(allow_none=True)
    summary = ma.fields.String()
    evaluation = ma.fields.String(allow_none=True, metadata={"description": "excellent | good | pass | fail"})
    evaluation_notes = ma.fields.String(allow_none=True)
    photos = ma.fields.List(ma.fields.Nested(PhotoSchema))


class EducationSchema(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    held_on = ma.fields.Date()
    topic = ma.fields.String()
    class_hours = ma.fields.Float()
    participants = ma.fields.Integer()
    notes = ma.fields.String(allow_none=True)


class EducationArgs(Strict):
    held_on = ma.fields.String(required=True, metadata={"description": "YYYY-MM-DD, not in the future"})
    topic = ma.fields.String(required=True, metadata={"description": "e.g. 消防安全专题讲座"})
    class_hours = ma.fields.Float(required=True, metadata={"description": "class-hours (课时), above 0"})
    participants = ma.fields.Integer(required=True)
    notes = ma.fields.String(load_default=None)


class UnitRecordsSchema(ma.Schema):
    unit_id = ma.fields.Integer()
    unit_name = ma.fields.String()
    headcount = ma.fields.Integer(allow_none=True)
    semester = ma.fields.String()
    drills = ma.fields.List(ma.fields.Nested(DrillSchema))
    education = ma.fields.List(ma.fields.Nested(EducationSchema))


@blp.route("/drills")
class SemesterTable(MethodView):
    @blp.arguments(SemesterArgs, location="query")
    @blp.response(200, SemesterSchema)
    @blp.alt_response(404, description="no such school in the caller's scope", schema=ApiErrorSchema)
    @blp.alt_response(422, description="the school has no such semester", schema=ApiErrorSchema)
    def get(self, args):
        """Per unit in the caller's scope: drills held / required, class-hours / 8 and participation in a semester."""
        svc = services()
        with svc.uow() as uow:
            s = uow.session
            user = api_user(s)
            school = drill_queries.school_for(s, user, args.get("school_id"))
            semester = drill_queries.semester_of(s, school.id, drill_queries.today(svc.clock), args.get("semester"))
            rows = drill_queries.semester_table(s, user, school, semester)
            return {"school_id": school.id, "semester": semester.key, "first_day": semester.first_day,
                    "last_day": semester.last_day, "units": [{**vars(r), "complete": r.complete} for r in rows]}


def _drill_rows(drills) -> list[dict]:
    return [{**{f: getattr(d, f) for f in DrillSchema().fields if f != "photos"}, "photos": photos}
            for d, photos in drills]


@blp.route("/drills/units/<int:unit_id>")
class UnitRecords(MethodView):
    @blp.arguments(UnitSemesterArgs, location="query")
    @blp.response(200, UnitRecordsSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, args, unit_id: int):
        """One unit's drills (with their photos) and safety-education sessions in a semester."""
        svc = services()
        with svc.uow() as uow:
            s = uow.session
            unit, semester, drills, education = drill_queries.unit_semester(
                s, api_user(s), unit_id, drill_queries.today(svc.clock), args.get("semester"))
            return {"unit_id": unit.id, "unit_name": unit.name, "headcount": unit.headcount,
                    "semester": semester.key, "drills": _drill_rows(drills), "education": education}


@blp.route("/drills/units/<int:unit_id>/education", methods=["POST"])
@blp.arguments(EducationArgs)
@blp.response(201, EducationSchema)
@blp.alt_response(403, description="only the unit's staff or head, or the security office", schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(422, description="a field is wrong; `errors` names it", schema=ApiErrorSchema)
def record_education(args, unit_id: int):
    """Record one safety-education session of a unit (date, topic, class-hours, participants)."""
    return Drills(services()).record_education(g.api_user_id, unit_id, args)


@blp.route("/drills/<int:drill_id>/photos", methods=["POST"])
@blp.arguments(UploadArgs, location="files")
@blp.response(201, PhotoSchema)
@blp.alt_response(403, schema=ApiErrorSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
@blp.alt_response(422, description="too large, empty or of a type not accepted", schema=ApiErrorSchema)
def add_photo(files, drill_id: int):
    """Add a photo of a drill (JPEG, PNG, WebP, PDF ...; checked like hazard evidence, type read from the bytes)."""
    upload = files["file"]
    svc = services()
    store = store_for(svc)
    data = upload.stream.read(store.max_bytes + 1)  # one byte past the limit is enough to refuse
    return Drills(svc).add_photo(g.api_user_id, drill_id, filename=upload.filename or "photo", data=data, store=store)


@blp.route("/drills/photos/<int:photo_id>/content")
@blp.response(200, description="the photo's bytes, with its sniffed content type")
@blp.alt_response(404, schema=ApiErrorSchema)
def photo_content(photo_id: int):
    """Download one drill photo (for those whose scope covers the unit)."""
    item, data = Drills(services()).photo(g.api_user_id, photo_id)
    response = Response(data, mimetype=item.content_type)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(item.filename)}"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
