"""Evidence and comments for the pages, over the engine's attachments and comments services."""
from __future__ import annotations

from engine.rectification import attachments as engine_attachments
from engine.rectification import comments as engine_comments


def limits(services) -> dict:
    """Size and type limits shown next to upload fields (the engine checks the bytes themselves)."""
    store = engine_attachments.store_for(services)
    return {"max_mb": max(1, store.max_bytes // (1024 * 1024)), "accept": ",".join(engine_attachments.ALLOWED_TYPES)}


def list_for(session, user, hazard) -> list:
    """The hazard's attachments (the caller has checked the user may see the hazard)."""
    return engine_attachments.list_attachments(session, user, hazard.id)


def add(services, user_id: int, hazard_id: int, upload, task_id: int | None = None):
    """Store one uploaded file as evidence of a hazard (size and type checked by the engine)."""
    return engine_attachments.add_attachment(services, user_id, hazard_id, filename=upload.filename or "upload",
                                             content_type=upload.mimetype, data=upload.read(), task_id=task_id)


def keep_with(services, user_id: int, files: list[tuple[str, bytes]]):
    """A `within(session, hazard)` that keeps these files (name, bytes) as the new hazard's evidence in its commit."""
    store = engine_attachments.store_for(services)
    checked = [(name, data, *engine_attachments.check_upload(data, store, "photos")) for name, data in files]

    def within(session, hazard):
        now = services.clock.now()
        for name, data, sniffed, digest in checked:
            engine_attachments.store_attachment(session, store, hazard, user_id, None, name, data, sniffed, digest,
                                                now)

    return within


def fetch(services, user_id: int, attachment_id: int):
    """(attachment, bytes) if the user may read it; raises NotFound otherwise."""
    return engine_attachments.get_attachment_for(services, user_id, attachment_id)


def comments_for(session, user, hazard) -> list:
    """The hazard's comments, oldest first, with their authors."""
    return engine_comments.list_comments(session, user, hazard.id)


def add_comment(services, user_id: int, hazard_id: int, body: str, task_id: int | None = None):
    """Add a comment to a hazard."""
    return engine_comments.add_comment(services, user_id, hazard_id, body, task_id=task_id)
