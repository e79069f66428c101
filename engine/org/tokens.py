"""API tokens for scripts: the plaintext is shown once; only its SHA-256 is stored and compared."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from engine.infra.errors import InvalidFormData, NotAllowed, NotFound, PasswordChangeRequired
from engine.org import accounts
from engine.org.models import ApiToken, User

PREFIX = "rf_"
# Recording every use would turn each API read into a write; a minute's precision is enough for audits.
LAST_USED_PRECISION = timedelta(minutes=1)
# A leaked token stops working on its own: new tokens live this many days unless asked otherwise.
DEFAULT_EXPIRY_DAYS = 90
MAX_EXPIRY_DAYS = 3650


def token_digest(plaintext: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_token(services, user_id: int, name: str = "script",
                 expires_in_days: int | None = DEFAULT_EXPIRY_DAYS) -> tuple[ApiToken, str]:
    """Issue a token for the user, valid `expires_in_days` days (None: no expiry); returns the row and the
    plaintext, which is never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidFormData("a token needs a name of 1 to 100 characters",
                              [{"field": "name", "message": "1 to 100 characters"}])
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise InvalidFormData(f"a token expires after 1 to {MAX_EXPIRY_DAYS} days",
                              [{"field": "expires_in_days", "message": f"1 to {MAX_EXPIRY_DAYS} days"}])
    plaintext = PREFIX + secrets.token_urlsafe(32)
    with services.uow() as uow:
        s = uow.session
        user = accounts.get_user(s, user_id)
        now = services.clock.now()
        token = ApiToken(user_id=user.id, name=name, token_sha256=token_digest(plaintext), created_at=now,
                         expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days))
        s.add(token)
        uow.commit()
        return token, plaintext


def verify_token(services, plaintext: str) -> int:
    """The id of the active user a live token belongs to; NotAllowed for unknown, revoked, expired or inactive ones,
    PasswordChangeRequired while its user must choose a new password (after a reset the old tokens wait for it)."""
    if not plaintext or not plaintext.startswith(PREFIX):
        raise NotAllowed("invalid API token")
    with services.uow() as uow:
        s = uow.session
        # One round trip per API request: the token and its user's active flag together.
        row = s.execute(select(ApiToken, User.active, User.must_change_password)
                        .join(User, User.id == ApiToken.user_id)
                        .where(ApiToken.token_sha256 == token_digest(plaintext))).first()
        token, active, must_change = row if row is not None else (None, False, False)
        if token is None or token.revoked_at is not None or not active:
            raise NotAllowed("invalid API token")
        now = services.clock.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise NotAllowed("API token expired")
        if must_change:
            raise PasswordChangeRequired("this user must choose a new password on the profile page first")
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
            token.last_used_at = now
            uow.commit()
        return token.user_id


def revoke_token(services, token_id: int, user_id: int | None = None) -> ApiToken:
    """Revoke a token for good (if `user_id` is given, only that user's own token)."""
    with services.uow() as uow:
        s = uow.session
        token = s.get(ApiToken, token_id)
        if token is None or (user_id is not None and token.user_id != user_id):
            raise NotFound(f"token {token_id} does not exist")
        if token.revoked_at is None:
            token.revoked_at = services.clock.now()
            uow.commit()
        return token


def tokens_of(services, user_id: int) -> list[ApiToken]:
    """A user's tokens, newest first (no plaintext: it was never stored)."""
    with services.uow() as uow:
        return list(uow.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())))
