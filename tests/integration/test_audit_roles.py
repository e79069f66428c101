"""The two PostgreSQL roles of the README (scripts/postgres-roles.sql): the owner migrates, the application runs, and
the application's role can neither rewrite events nor get the append-only triggers out of its way."""
from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.assembly import assemble
from engine.infra.clock import FixedClock
from engine.infra.config import DEFAULT_BPMN_DIR, REPO_ROOT
from engine.infra.db import make_engine, make_session_factory
from engine.infra.schema import upgrade
from engine.org import accounts
from engine.process import audit
from engine.process.events import record_event
from tests.conftest import PG_ADMIN_URL, _pg_reachable

ROLES_SQL = REPO_ROOT / "scripts" / "postgres-roles.sql"


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@pytest.fixture
def roles():
    """A database set up by the documented script, under fresh role and database names; dropped afterwards."""
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL UNREACHABLE at {PG_ADMIN_URL}: the role set-up was NOT tested ({problem})")
    suffix = uuid.uuid4().hex[:8]
    owner, app, database = f"rf_owner_{suffix}", f"rf_app_{suffix}", f"rectiflow_roles_{suffix}"
    sql = ROLES_SQL.read_text().replace("rectiflow_owner", owner).replace("rectiflow_app", app)
    cluster_part, database_part = re.split(r"^\\connect rectiflow$", sql, flags=re.M)
    cluster_part = cluster_part.replace("DATABASE rectiflow ", f"DATABASE {database} ")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in _statements(cluster_part):
                conn.execute(text(statement))
        superuser = create_engine(f"{base}/{database}", isolation_level="AUTOCOMMIT")
        with superuser.connect() as conn:
            for statement in _statements(database_part):
                conn.execute(text(statement))
        superuser.dispose()
        host = base.split("@", 1)[1]
        owner_url, app_url = (f"postgresql+psycopg://{role}@{host}/{database}" for role in (owner, app))
        upgrade(owner_url)  # `rectiflow upgrade` as the owner
        yield owner_url, app_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            for role in (app, owner):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_the_application_role_works_but_cannot_rewrite_the_log(roles):
    owner_url, app_url = roles
    engine = make_engine(app_url)
    services = assemble(make_session_factory(engine), FixedClock(datetime(2026, 11, 2, 1, tzinfo=timezone.utc)),
                        DEFAULT_BPMN_DIR)
    try:
        # The application can do its work: deploy, add people, write events, seal and verify the chain.
        services.deploy_directory()
        with services.uow() as uow:
            school = accounts.add_org(uow.session, "school", "某职业学院", "s")
            user = accounts.add_user(uow.session, "staff", "staff", "pw-staff", school, services.clock.now(),
                                     roles=[("department_staff", school)])
            record_event(uow.session, services.clock.now(), "Something", user.id, note="应用角色写入")
            uow.commit()
        assert audit.seal_events(services.session_factory).sealed >= 1
        with services.uow() as uow:
            assert audit.verify_events(uow.session).ok

        # ... and cannot change the log, nor get the triggers out of the way.
        refusals = {
            "UPDATE events SET kind = 'Nothing'": "append-only",
            "DELETE FROM events": "append-only",
            "TRUNCATE events CASCADE": "permission denied",
            "ALTER TABLE events DISABLE TRIGGER USER": "must be owner",
            "DROP TRIGGER events_append_only ON events": "must be owner",
            "DROP FUNCTION events_append_only() CASCADE": "must be owner",
            "DROP TABLE events CASCADE": "must be owner",
            "CREATE TABLE shadow (id integer)": "permission denied",
        }
        for statement, message in refusals.items():
            with pytest.raises(DBAPIError, match=message), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        services.dispose()

    # The owner can: that is why the application must not run as the owner (tampering then shows in verify).
    owner = create_engine(owner_url)
    with owner.begin() as conn:
        conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE events SET kind = 'Nothing' WHERE kind = 'Something'"))
        conn.execute(text("ALTER TABLE events ENABLE TRIGGER USER"))
    with owner.connect() as conn:
        result = audit.verify_events(Session(bind=conn))
    owner.dispose()
    assert not result.ok and "no longer matches its hash" in result.reason
