"""Organisation tree and user accounts: creation, password hashing, role grants, sign-in checks and lockout."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from engine.infra.errors import InvalidFormData, NotFound, RectiflowError
from engine.org.models import ORG_KINDS, ROLES, OrgNode, RoleGrant, User

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """scrypt from the standard library, with a random salt, in a self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    """Constant-time comparison of a password with its stored hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    # A hash of a random password nobody knows: checking against it costs the same scrypt work as a real account.
    return hash_password(secrets.token_urlsafe(24))


MIN_PASSWORD_LENGTH = 8
# What an unusable password hash looks like: no scrypt string matches it, so only a reset lets the user in locally.
UNUSABLE_PASSWORD = "!"
# zxcvbn's 0-4 strength score a chosen password needs: 0 and 1 are the common-password lists, keyboard walks,
# dates and repeats a guesser tries first; 2 is "somewhat guessable", which a slow scrypt hash and the lockout hold.
MIN_PASSWORD_SCORE = 2
# Words Chinese users put in passwords that zxcvbn's English lists miss (pinyin of love/password/school/safety).
COMMON_WORDS = ("woaini", "aini", "wodemima", "mima", "xuexiao", "anquan", "5201314", "1314520", "521521")


def password_problems(new: str, user: User | None = None) -> list[dict]:
    """Why a password someone chose for themselves is refused ([] when it is fine): shorter than
    MIN_PASSWORD_LENGTH, or easy to guess (common passwords, patterns, the user's own name, 工号 or phone)."""
    if len(new) < MIN_PASSWORD_LENGTH:
        return [{"field": "new_password", "code": "too_short",
                 "message": f"at least {MIN_PASSWORD_LENGTH} characters"}]
    own = [v for v in (user.username, user.display_name, user.employee_no, user.phone,
                       (user.email or "").split("@")[0]) if v] if user is not None else []
    if zxcvbn(new[:100], user_inputs=[*own, *COMMON_WORDS])["score"] < MIN_PASSWORD_SCORE:
        return [{"field": "new_password", "code": "too_common",
                 "message": "too easy to guess: a common password, a pattern, or your own name or numbers"}]
    return []


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt found: the user on success; on failure, the account it has just locked (if any)."""

    user: User | None = None
    locked_now: User | None = None


def sign_in(session: Session, username: str, password: str, now: datetime, *, max_failures: int = 5,
            lockout: timedelta = timedelta(minutes=15)) -> SignIn:
    """Check a username and password, counting consecutive failures per account in the database.

    Every attempt costs exactly one scrypt check, whether the user exists, is inactive, is locked or not, so the
    answer time does not tell which names exist. After `max_failures` consecutive failures the account is locked
    for `lockout` (even the right password is refused until then); a success resets the count. The caller commits.
    """
    user = find_login(session, username)
    if user is None or not user.active:
        check_password(dummy_hash(), password)
        return SignIn()
    good = check_password(user.password_hash, password)
    if user.locked_until is not None and user.locked_until > now:
        return SignIn()
    if good:
        if user.failed_logins or user.locked_until is not None:
            user.failed_logins, user.locked_until = 0, None
        return SignIn(user=user)
    # One atomic increment: concurrent failures in several workers each count, and only one of them locks.
    failures = session.execute(update(User).where(User.id == user.id)
                               .values(failed_logins=User.failed_logins + 1)
                               .returning(User.failed_logins)).scalar_one()
    if failures < max_failures:
        return SignIn()
    user.failed_logins, user.locked_until = 0, now + lockout
    return SignIn(locked_now=user)


@dataclass(frozen=True)
class ExternalSignIn:
    """What a sign-in vouched for by an identity provider found: the user, or why it is refused.

    `refused` is "unknown" (no user has that 工号 or e-mail), "ambiguous" (several users share the e-mail),
    "inactive" or "locked" (the password lockout holds for every way in); None on success.
    """

    user: User | None = None
    refused: str | None = None


def sign_in_external(session: Session, now: datetime, *, employee_no: str | None = None,
                     email: str | None = None) -> ExternalSignIn:
    """Find the user an identity provider has vouched for: by 工号 first, else by a (verified) e-mail.

    The caller passes only what it trusts (an e-mail the provider marked verified). No password is checked, so the
    failure count is left alone: it belongs to the password, which nobody guessed here. The caller commits.
    """
    user = None
    if employee_no:
        user = session.scalars(select(User).where(User.employee_no == employee_no)).first()
    if user is None and email:
        # E-mail is not unique in the table: a shared address must not pick one of its owners at random.
        # Indexed, so exact: as given and in lower case (how identity providers and our imports write addresses).
        given = email.strip()
        owners = list(session.scalars(select(User).where(User.email.in_({given, given.lower()})).limit(2)))
        if len(owners) > 1:
            return ExternalSignIn(refused="ambiguous")
        user = owners[0] if owners else None
    if user is None:
        return ExternalSignIn(refused="unknown")
    if not user.active:
        return ExternalSignIn(refused="inactive")
    if user.locked_until is not None and user.locked_until > now:
        return ExternalSignIn(refused="locked")
    if user.must_change_password:
        # A first or reset password was waiting to be replaced, but the provider vouches for them instead: that
        # one-time password stops working, and no password page stands between them and their work.
        user.password_hash, user.must_change_password = UNUSABLE_PASSWORD, False
    return ExternalSignIn(user=user)


def find_login(session: Session, login: str) -> User | None:
    """The user a sign-in name means: a user name first, then a 工号, then a phone number (one query)."""
    login = (login or "").strip()
    if not login:
        return None
    rows = list(session.scalars(select(User).where(
        (User.username == login) | (User.employee_no == login) | (User.phone == login))))
    for attr in ("username", "employee_no", "phone"):
        for user in rows:
            if getattr(user, attr) == login:
                return user
    return None


def end_sessions(session: Session, user: User) -> None:
    """End every browser session and remember-me cookie of the user (their ids carry the old version)."""
    session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))
    session.refresh(user, ["session_version"])


def change_password(session: Session, user: User, old: str, new: str) -> None:
    """Replace the user's password after checking the current one; ends all their sessions."""
    if not check_password(user.password_hash, old):
        raise InvalidFormData("the current password is wrong",
                              [{"field": "old_password", "message": "the current password is wrong"}])
    problems = password_problems(new, user)
    if problems:
        raise InvalidFormData(f"the new password is refused: {problems[0]['message']}", problems)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    end_sessions(session, user)


def add_org(session: Session, kind: str, name: str, code: str, parent: OrgNode | None = None) -> OrgNode:
    """Add a node under `parent`, keeping its materialised path."""
    if kind not in ORG_KINDS:
        raise RectiflowError(f"unknown organisation kind {kind!r}; expected one of {ORG_KINDS}")
    node = OrgNode(kind=kind, name=name, code=code, parent_id=parent.id if parent else None, path="/")
    session.add(node)
    session.flush()
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    return node


def add_user(session: Session, username: str, display_name: str, password: str | None, org: OrgNode, now,
             roles: list[tuple[str, OrgNode]] = (), email: str | None = None, *, password_hash: str | None = None,
             employee_no: str | None = None, phone: str | None = None) -> User:
    """Create a user at `org` with (role, scope node) grants. `password_hash` (from `hash_password`) stands in for
    `password` when many users share one password (the demo), saving one scrypt per user."""
    if password_hash is None:
        password_hash = hash_password(password)
    user = User(username=username, display_name=display_name, email=email, password_hash=password_hash,
                employee_no=employee_no, phone=phone, org_id=org.id, created_at=now, active=True)
    session.add(user)
    session.flush()
    for role, scope in roles:
        grant_role(session, user, role, scope)
    return user


def grant_role(session: Session, user: User, role: str, scope: OrgNode) -> RoleGrant:
    """Give `user` the `role` for the org node `scope`."""
    if role not in ROLES:
        raise RectiflowError(f"unknown role {role!r}; expected one of {ROLES}")
    grant = RoleGrant(user_id=user.id, role=role, org_id=scope.id)
    session.add(grant)
    session.flush()
    return grant


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(f"user {user_id} does not exist or is inactive")
    return user


def find_user(session: Session, username: str) -> User:
    """The active user with this login name."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        raise NotFound(f"no active user named {username!r}")
    return user


def ancestors(session: Session, node: OrgNode) -> list[OrgNode]:
    """The node's ancestors and the node itself, root first, in one query."""
    ids = node.ancestor_ids()
    by_id = {n.id: n for n in session.scalars(select(OrgNode).where(OrgNode.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def nearest_ids(session: Session, nodes, kind: str) -> dict[int, int]:
    """{node id: id of its closest ancestor-or-self of this kind} for many nodes in one query per 5,000 ancestors;
    nodes with none are left out (the batch form of `nearest`)."""
    nodes = list(nodes)
    wanted = sorted({i for n in nodes for i in n.ancestor_ids()})
    found: set[int] = set()
    for start in range(0, len(wanted), 5000):
        found |= set(session.scalars(select(OrgNode.id).where(OrgNode.id.in_(wanted[start:start + 5000]),
                                                              OrgNode.kind == kind)))
    out = {}
    for n in nodes:
        match = next((i for i in reversed(n.ancestor_ids()) if i in found), None)
        if match is not None:
            out[n.id] = match
    return out


def nearest(session: Session, node: OrgNode, kind: str) -> OrgNode | None:
    """The closest ancestor-or-self of the given kind."""
    for candidate in reversed(ancestors(session, node)):
        if candidate.kind == kind:
            return candidate
    return None
