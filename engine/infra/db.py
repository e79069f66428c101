"""Database plumbing: engines, column types that behave the same on SQLite and PostgreSQL, units of work."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops tzinfo on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def make_engine(url: str, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout so writers queue instead of failing."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # pysqlite's own transaction handling defers BEGIN; we issue BEGIN IMMEDIATE
            # ourselves so the first read of a write transaction already holds the write lock.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No JIT for the application's statements: they are short, indexed lookups, and PostgreSQL's JIT compiles the
    # larger ones for 0.2-1.2 s before running them in milliseconds (issue 16's measurements).
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args={"options": "-c jit=off"})


def is_postgres(session: Session) -> bool:
    """True when the session talks to PostgreSQL (row locks and SKIP LOCKED are real)."""
    return session.get_bind().dialect.name == "postgresql"


def utcnow_from(clock) -> datetime:
    """The clock's now, asserted timezone-aware."""
    now = clock.now()
    if now.tzinfo is None:
        raise ValueError("clock returned a naive datetime")
    return now


class UnitOfWork:
    """One transaction per command: rolls back unless commit() was called."""

    def __init__(self, session_factory: sessionmaker):
        self._session_factory = session_factory
        self.session: Session | None = None
        self._after_commit: list = []

    def __enter__(self) -> "UnitOfWork":
        self.session = self._session_factory()
        self._after_commit = []
        return self

    def __exit__(self, exc_type, exc, tb):
        # close() rolls back whatever was not committed, and keeps loaded objects readable.
        self.session.close()

    def commit(self) -> None:
        """Commit once, then run hooks registered for after a successful commit."""
        self.session.commit()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            hook()

    def after_commit(self, hook) -> None:
        """Run `hook` only if and after this unit of work commits."""
        self._after_commit.append(hook)


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded objects usable after commit (callers read results)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass
