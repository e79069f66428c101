"""What people add around a hazard: evidence files, comments, saved inbox filters, API tokens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import JSONType, UTCDateTime
from .core import Base, User


class Attachment(Base):
    """One evidence file (photo or document) of a hazard; the bytes live on disk under `storage_key`."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed from the bytes, not the client's claim
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    uploaded_by: Mapped[User] = relationship()


class Comment(Base):
    """A remark on a hazard, optionally made while working one of its tasks."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship()


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

    user: Mapped[User] = relationship()


# "Everything under org X" is `path LIKE '/1/4/%'`; PostgreSQL uses a b-tree for LIKE prefixes only with
# pattern ops (unless the database collation is C). On SQLite it is a plain second index on the small org table,
# kept so the schema is the same on both backends.
Index("ix_org_nodes_path_pattern", Base.metadata.tables["org_nodes"].c.path,
      postgresql_ops={"path": "varchar_pattern_ops"})
