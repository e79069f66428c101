"""Files chosen in a form survive a refused submission: photos picked on a phone are not lost to a typo elsewhere.

A browser cannot pre-fill a file input, so when a form comes back with errors each file it carried is written to
the evidence store (content-addressed, so nothing is stored twice) and the form shows it as 已选择 with a signed
token in a checkbox. Submitting again sends the token instead of the file; unticking it drops the file. Nothing
enters the database until the submission succeeds: the engine keeps the files in the same transaction as the step
(engine.process.hooks.EvidenceKeeper), and a bytes-only orphan in the store is all a given-up form leaves behind.

A token names the stored key, the file name, its field and the user; it is signed with the app's secret and lasts
a day, so a token cannot point at another user's files or be forged.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from engine.infra.errors import InvalidFormData, NotFound
from engine.rectification.attachments import check_upload, clean_filename, store_for
from web.templating import error_text

MAX_AGE = 24 * 3600
PREFIX = "staged:"


@dataclass(frozen=True)
class StagedFile:
    """A file kept for the next submission: its token (the checkbox value), name and size."""

    token: str
    name: str
    size: int


@dataclass
class Collected:
    """What a submission carries per field: every file (name, bytes) and how the form shows them if it comes back."""

    uploads: dict[str, list[tuple[str, bytes]]]
    staged: dict[str, list[StagedFile]]
    errors: dict[str, str]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="rectiflow.staged-upload")


def collect(services, fields: list[str], form, files, user_id: int) -> Collected:
    """The files of these fields: newly chosen ones (checked and stashed in the store) and those kept by token."""
    store = store_for(services)
    serializer = _serializer()
    out = Collected({}, {}, {})
    for field in fields:
        uploads, staged = [], []
        for token in form.getlist(PREFIX + field):
            try:
                claim = serializer.loads(token, max_age=MAX_AGE)
                if claim.get("u") != user_id or claim.get("f") != field:
                    raise BadSignature("not this user's or field's file")
                data = store.read(claim["k"])
            except (BadSignature, NotFound, KeyError, TypeError):
                out.errors[field] = _("之前选择的文件已失效，请重新选择")
                continue
            uploads.append((claim["n"], data))
            staged.append(StagedFile(token, claim["n"], len(data)))
        for upload in files.getlist(field):
            if not upload or not upload.filename:
                continue
            data = upload.read()
            try:
                _sniffed, digest = check_upload(data, store, field)
            except InvalidFormData as exc:
                out.errors[field] = f"{clean_filename(upload.filename)}：{error_text(exc)}"
                continue
            name = clean_filename(upload.filename)
            token = serializer.dumps({"k": store.put(data, digest), "n": name, "f": field, "u": user_id})
            uploads.append((name, data))
            staged.append(StagedFile(token, name, len(data)))
        if uploads:
            out.uploads[field] = uploads
        if staged:
            out.staged[field] = staged
    return out
