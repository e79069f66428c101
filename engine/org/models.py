"""Tables of the organisation and its people: the org tree, users, role grants, saved filters, API tokens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false as sa_false, true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.infra.db import Base, JSONType, UTCDateTime

ORG_KINDS = ("province", "city", "county", "school", "unit", "grid")
# What a unit (kind "unit") is inside its school: a college (二级学院), an office (机关处室) or an affiliated school
# or hospital (附属单位). Checklists name unit groups by these (各二级学院, 机关各处室, 各附属单位).
UNIT_TYPES = ("college", "office", "affiliate")

ROLES = (
    "department_staff",
    "grid_officer",
    "department_head",
    "security_office",
    "inspector",
    "leader",
    "supervisor",
    "process_designer",
    "admin",
)


class OrgNode(Base):
    """A node of the organisation tree: province → city → county → school → unit → grid."""

    __tablename__ = "org_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    # Used in notice numbers such as 〔2026〕整改第 001 号 and narrow tables.
    short_name: Mapped[str | None] = mapped_column(String(32))
    # Only for kind "unit": one of UNIT_TYPES (None: not classified).
    unit_type: Mapped[str | None] = mapped_column(String(16))
    # How many people the unit has (seed 004: drills and safety education 全员参加); None: not yet entered.
    headcount: Mapped[int | None] = mapped_column(Integer)
    # A deactivated node keeps its history but takes no new work; one with open work cannot be deactivated.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # Materialised path "/1/4/9/" so "everything under X" is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(512), index=True, default="/")
    head_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, name="fk_org_head_user"), nullable=True
    )

    parent: Mapped["OrgNode | None"] = relationship(remote_side=[id])

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this node, inclusive."""
        return [int(part) for part in self.path.strip("/").split("/") if part]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200), index=True)  # OIDC sign-in matches by it
    # 工号 and mobile phone: both unique where given, and both accepted at sign-in like the user name.
    employee_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Part of every sign-in's id (web/auth.py): bumping it on logout or a password change ends all sessions and
    # remember-me cookies of the user at once, in every worker.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Consecutive failed sign-ins (reset by a success) and the end of a lockout; shared by all workers.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set for imported users and after an admin reset: the next sign-in must choose a new password first.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    org: Mapped[OrgNode] = relationship(foreign_keys=[org_id])
    grants: Mapped[list["RoleGrant"]] = relationship(back_populates="user", lazy="selectin")


class RoleGrant(Base):
    """A user holds `role` for the org node `org_id` (and, for reading, what lies below it)."""

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "org_id"),
        Index("ix_role_grants_role_org", "role", "org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))

    user: Mapped[User] = relationship(back_populates="grants")


class SavedFilter(Base):
    """Named inbox filters of one user, optionally shared with everyone holding (role, org)."""

    __tablename__ = "saved_filters"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index("ix_saved_filters_shared", "shared_role", "shared_org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The column is called "filters"; `values` avoids shadowing the module name in callers.
    values: Mapped[dict] = mapped_column("filters", JSONType, default=dict)
    shared_role: Mapped[str | None] = mapped_column(String(32))
    shared_org_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    owner: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for scripts; only its SHA-256 is stored, the plaintext is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: never expires (tokens issued before expiry existed); requests after it answer 401.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
