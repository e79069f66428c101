"""`rectiflow token`: API tokens for scripts (the plaintext is printed once and never stored)."""
from __future__ import annotations

import click

from engine.infra.errors import RectiflowError
from engine.org import accounts, tokens


@click.group("token")
def token_cmd() -> None:
    """Create, list and revoke API tokens (Authorization: Bearer <token>)."""


def _user_id(obj, username: str) -> int:
    with obj.services.uow() as uow:
        return accounts.find_user(uow.session, username).id


def _fail(exc: RectiflowError) -> None:
    raise click.ClickException(f"{exc.code}: {exc.message}")


@token_cmd.command("create")
@click.option("--user", "username", required=True, help="Whose token: API calls act as this user.")
@click.option("--name", default="script", show_default=True, help="What the token is for (shown in lists).")
@click.option("--expires-in-days", type=click.IntRange(0, tokens.MAX_EXPIRY_DAYS), default=tokens.DEFAULT_EXPIRY_DAYS,
              show_default=True, help="Days until the token stops working (answers 401); 0 for no expiry.")
@click.pass_obj
def token_create(obj, username: str, name: str, expires_in_days: int) -> None:
    """Issue a token and print it once; store it like a password."""
    try:
        token, plaintext = tokens.create_token(obj.services, _user_id(obj, username), name, expires_in_days or None)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(plaintext)
    expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
    click.echo(f"token {token.id} ({token.name}) for {username}: {expiry}; shown once, only its hash is kept",
               err=True)


@token_cmd.command("list")
@click.option("--user", "username", required=True, help="Whose tokens to list.")
@click.pass_obj
def token_list(obj, username: str) -> None:
    """List a user's tokens (ids, names, last use; never the token itself)."""
    try:
        rows = tokens.tokens_of(obj.services, _user_id(obj, username))
    except RectiflowError as exc:
        _fail(exc)
    for t in rows:
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        now = obj.services.clock.now()
        if t.revoked_at:
            state = f"revoked {t.revoked_at:%Y-%m-%d}"
        elif t.expires_at and t.expires_at <= now:
            state = f"expired {t.expires_at:%Y-%m-%d}"
        else:
            state = f"active until {t.expires_at:%Y-%m-%d}" if t.expires_at else "active, no expiry"
        click.echo(f"{t.id:<5} {t.name:<24} created {t.created_at:%Y-%m-%d}  last used {used}  {state}")


@token_cmd.command("revoke")
@click.argument("token_id", type=int)
@click.option("--user", "username", default=None, help="Only if the token belongs to this user.")
@click.pass_obj
def token_revoke(obj, token_id: int, username: str | None) -> None:
    """Revoke a token by id; requests with it fail from now on."""
    try:
        user_id = _user_id(obj, username) if username else None
        token = tokens.revoke_token(obj.services, token_id, user_id)
    except RectiflowError as exc:
        _fail(exc)
    click.echo(f"revoked token {token.id} ({token.name})")
