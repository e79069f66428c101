"""Evidence files: type sniffed from the bytes, size capped, stored on disk by content hash, read only in scope."""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from engine.infra.config import Settings
from engine.infra.errors import InvalidFormData, NotAllowed, NotFound
from engine.org import accounts
from engine.org.models import User
from engine.process.events import record_event
from engine.process.models import HumanTask
from engine.rectification.models import Attachment, Hazard
from engine.rectification.visibility import can_view_hazard, get_visible_hazard

MAX_BYTES = Settings.max_upload_bytes
# What the upload field offers; the server decides by the bytes, never by this list or the file name.
ALLOWED_TYPES = (
    "image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
DOCX, XLSX = ALLOWED_TYPES[5], ALLOWED_TYPES[6]


@dataclass(frozen=True)
class EvidenceStore:
    """Where evidence bytes live and how large one file may be."""

    directory: Path
    max_bytes: int = MAX_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> "EvidenceStore":
        """The store the settings describe."""
        return cls(Path(settings.upload_dir), settings.max_upload_bytes)

    def path_of(self, storage_key: str) -> Path:
        """The file of a storage key (keys are made here, never taken from a request)."""
        return self.directory / storage_key

    def put(self, data: bytes, sha256: str) -> str:
        """Write the bytes under their hash (once; identical files share one copy); return the key."""
        key = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        target = self.path_of(key)
        if target.exists():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, and a crash leaves only a temp file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
        return key

    def read(self, storage_key: str) -> bytes:
        """The stored bytes of a key."""
        try:
            return self.path_of(storage_key).read_bytes()
        except FileNotFoundError:
            raise NotFound("the evidence file is missing from storage") from None


def store_for(services) -> EvidenceStore:
    """The store the composition root gave the services, else one from the environment."""
    return services.evidence_store or EvidenceStore.from_settings(Settings.from_env())


def sniff_type(data: bytes) -> str | None:
    """The MIME type the bytes really are, if it is one we accept; None otherwise."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"PK\x03\x04"):
        return _office_type(data)
    return "text/plain" if _is_text(data) else None


def _office_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return None


def _is_text(data: bytes) -> bool:
    if not data or b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text)


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def clean_filename(name: str) -> str:
    """A display name without directories or control characters (it is never used as a path)."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .") or "upload"
    return base[-200:]


def check_upload(data: bytes, store: EvidenceStore, field: str = "file") -> tuple[str, str]:
    """(content type sniffed from the bytes, sha256) of an acceptable evidence file; InvalidFormData otherwise."""
    if len(data) > store.max_bytes:
        raise InvalidFormData(f"the file is larger than {store.max_bytes // (1024 * 1024)} MiB",
                              [{"field": field, "message": f"larger than {store.max_bytes} bytes"}])
    if not data:
        raise InvalidFormData("the file is empty", [{"field": field, "message": "empty file"}])
    sniffed = sniff_type(data)
    if sniffed is None:
        raise InvalidFormData("only JPEG, PNG, WebP, PDF, Word, Excel and plain-text files are accepted",
                              [{"field": field, "message": "file type not allowed"}])
    return sniffed, hashlib.sha256(data).hexdigest()


def add_attachment(services, user_id: int, hazard_id: int, *, filename: str, data: bytes,
                   content_type: str | None = None, task_id: int | None = None,
                   store: EvidenceStore | None = None) -> Attachment:
    """Check and store one evidence file of a hazard, and record EvidenceAdded in its timeline."""
    store = store or store_for(services)
    sniffed, digest = check_upload(data, store)
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        user = accounts.get_user(s, user_id)
        hazard = writable_hazard(s, user, hazard_id)
        check_task_of_hazard(s, hazard, task_id)
        attachment = store_attachment(s, store, hazard, user.id, task_id, filename, data, sniffed, digest, now)
        uow.commit()
        return attachment


def store_attachment(s: Session, store: EvidenceStore, hazard: Hazard, user_id: int, task_id: int | None,
                     filename: str, data: bytes, sniffed: str, digest: str, now: datetime) -> Attachment:
    """Write checked bytes to the store and add their Attachment row and EvidenceAdded event to the session."""
    attachment = Attachment(hazard_id=hazard.id, task_id=task_id, uploaded_by_id=user_id,
                            filename=clean_filename(filename), content_type=sniffed, size=len(data),
                            sha256=digest, storage_key=store.put(data, digest), created_at=now)
    s.add(attachment)
    s.flush()
    record_event(s, now, "EvidenceAdded", user_id, instance_id=hazard.instance_id, hazard_id=hazard.id,
                 task_id=task_id, attachment_id=attachment.id, filename=attachment.filename,
                 content_type=sniffed, size=len(data), sha256=digest)
    return attachment


class HazardEvidence:
    """A hazard task form's evidence field (photos of the rectified site, of the acceptance): the files become the
    hazard's evidence, linked to the task, in the completion's transaction (engine.process.hooks.EvidenceKeeper)."""

    def attach(self, services, s: Session, hazard: Hazard, user: User, task: HumanTask, field: str,
               keep: list[int], uploads: list[tuple[str, bytes]], now: datetime) -> list[int]:
        if keep:
            owned = set(s.scalars(select(Attachment.id).where(Attachment.id.in_(keep),
                                                              Attachment.hazard_id == hazard.id)))
            foreign = [i for i in keep if i not in owned]
            if foreign:
                message = f"not evidence of hazard {hazard.id}: {', '.join(map(str, foreign))}"
                raise InvalidFormData(f"{field}: {message}", [{"field": field, "message": message}])
        store = store_for(services)
        checked = [(name, data, *check_upload(data, store, field)) for name, data in uploads]
        added = [store_attachment(s, store, hazard, user.id, task.id, name, data, sniffed, digest, now).id
                 for name, data, sniffed, digest in checked]
        return [*dict.fromkeys(keep), *added]


def writable_hazard(s: Session, user: User, hazard_id: int) -> Hazard:
    """The hazard if the user may read it and it is not archived (evidence and comments may still be added)."""
    hazard = get_visible_hazard(s, user, hazard_id)
    if hazard.status == "archive":
        # 备案存档: the archived record and its evidence stay as they were.
        raise NotAllowed(f"hazard {hazard_id} is archived and can no longer change")
    return hazard


def check_task_of_hazard(s: Session, hazard: Hazard, task_id: int | None) -> None:
    """Refuse a task id that does not belong to the hazard."""
    if task_id is None:
        return
    task = s.get(HumanTask, task_id)
    if task is None or task.hazard_id != hazard.id:
        raise InvalidFormData(f"task {task_id} is not a task of hazard {hazard.id}",
                              [{"field": "task_id", "message": "not a task of this hazard"}])


def list_attachments(session: Session, user: User, hazard_id: int) -> list[Attachment]:
    """The hazard's evidence, oldest first, if the user may read the hazard (NotFound otherwise)."""
    get_visible_hazard(session, user, hazard_id)
    return list(session.scalars(
        select(Attachment).where(Attachment.hazard_id == hazard_id)
        .options(joinedload(Attachment.uploaded_by)).order_by(Attachment.created_at, Attachment.id)
    ))


def get_attachment_for(services, user_id: int, attachment_id: int,
                       store: EvidenceStore | None = None) -> tuple[Attachment, bytes]:
    """(metadata, bytes) of one evidence file, for a user who may read its hazard; NotFound otherwise."""
    store = store or store_for(services)
    with services.uow() as uow:
        s = uow.session
        user = accounts.get_user(s, user_id)
        attachment = s.get(Attachment, attachment_id)
        hazard = s.get(Hazard, attachment.hazard_id) if attachment else None
        if attachment is None or hazard is None or not can_view_hazard(s, user, hazard):
            raise NotFound(f"attachment {attachment_id} does not exist")
        return attachment, store.read(attachment.storage_key)
