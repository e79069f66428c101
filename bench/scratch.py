"""A throwaway PostgreSQL database for one benchmark run."""
from __future__ import annotations

import uuid
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from engine.assembly import assemble
from engine.infra.config import DEFAULT_BPMN_DIR
from engine.infra.db import make_engine, make_session_factory
from engine.infra.schema import upgrade

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(admin_url: str = DEFAULT_ADMIN_URL):
    """Create an empty database beside `admin_url`'s, yield its URL, and drop it afterwards."""
    name = f"rectiflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_services(admin_url: str, clock):
    """A scratch database, migrated, and the engine's services over it on `clock` (disposed afterwards)."""
    with scratch_database(admin_url) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            yield assemble(make_session_factory(engine), clock, DEFAULT_BPMN_DIR)
        finally:
            engine.dispose()
