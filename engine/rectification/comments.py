"""Comments on a hazard: anyone who may read the hazard may comment; each comment enters the timeline."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from engine.infra.errors import InvalidFormData
from engine.org import accounts
from engine.org.models import User
from engine.process.events import record_event
from engine.rectification.attachments import check_task_of_hazard, writable_hazard
from engine.rectification.models import Comment
from engine.rectification.visibility import get_visible_hazard

MAX_COMMENT_CHARS = 5000


def add_comment(services, user_id: int, hazard_id: int, body: str, task_id: int | None = None) -> Comment:
    """Add a comment to a hazard (optionally tied to one of its tasks) and record CommentAdded."""
    body = (body or "").strip()
    if not body:
        raise InvalidFormData("the comment is empty", [{"field": "body", "message": "required"}])
    if len(body) > MAX_COMMENT_CHARS:
        raise InvalidFormData(f"a comment holds at most {MAX_COMMENT_CHARS} characters",
                              [{"field": "body", "message": f"longer than {MAX_COMMENT_CHARS} characters"}])
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        user = accounts.get_user(s, user_id)
        hazard = writable_hazard(s, user, hazard_id)
        check_task_of_hazard(s, hazard, task_id)
        comment = Comment(hazard_id=hazard.id, task_id=task_id, author_id=user.id, body=body, created_at=now)
        comment.author = user
        s.add(comment)
        s.flush()
        record_event(s, now, "CommentAdded", user.id, instance_id=hazard.instance_id, hazard_id=hazard.id,
                     task_id=task_id, comment_id=comment.id, body=body[:200])
        uow.commit()
        return comment


def list_comments(session: Session, user: User, hazard_id: int) -> list[Comment]:
    """The hazard's comments, oldest first, with their authors (NotFound if out of the user's scope)."""
    get_visible_hazard(session, user, hazard_id)
    return list(session.scalars(
        select(Comment).where(Comment.hazard_id == hazard_id).options(joinedload(Comment.author))
        .order_by(Comment.created_at, Comment.id)
    ))
