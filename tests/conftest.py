"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL through the same fixtures."""
from __future__ import annotations

import functools
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, select, text

from engine.assembly import assemble
from engine.infra.clock import FixedClock
from engine.infra.config import DEFAULT_BPMN_DIR
from engine.infra.db import Base, make_engine, make_session_factory
from engine.infra.schema import upgrade
from engine.infra.timezone import CHINA
from engine.org import accounts
from engine.process.models import HumanTask
from engine.rectification.hazards import report_hazard as report_hazard_verb

PG_ADMIN_URL = os.environ.get("RECTIFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)  # Monday 09:00 in China


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_database_url():
    """A throwaway PostgreSQL database for this test session, migrated once."""
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL UNREACHABLE at {PG_ADMIN_URL}: storage tests ran on SQLite only ({problem})")
    name = f"rectiflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, sqlite_template):
    """A clean, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_database_url")
    yield url
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def bpmn_dir() -> Path:
    return DEFAULT_BPMN_DIR


@pytest.fixture
def services(database_url, clock, bpmn_dir):
    """Services on a migrated database with the shipped diagrams deployed."""
    engine = make_engine(database_url)
    svc = assemble(make_session_factory(engine), clock, bpmn_dir)
    svc.deploy_directory()
    yield svc
    engine.dispose()


@functools.cache
def _world_password_hash(name: str) -> str:
    """The scrypt hash of a world user's password ("pw-" + name), made once per test process: hashing is slow on
    purpose, and every test that builds the world would otherwise pay for a dozen hashes."""
    return accounts.hash_password("pw-" + name)


@pytest.fixture
def world(services):
    """A bureau with one school, three units and a user for every role; returns ids by name."""
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        province = accounts.add_org(s, "province", "某省教育厅", "p")
        city = accounts.add_org(s, "city", "某市教育局", "p-c", province)
        bureau = accounts.add_org(s, "county", "某区教育局", "p-c-b", city)
        school = accounts.add_org(s, "school", "某职业学院", "p-c-b-s", bureau)
        other_school = accounts.add_org(s, "school", "另一学院", "p-c-b-o", bureau)
        security_unit = accounts.add_org(s, "unit", "保卫处", "s-bw", school)
        college = accounts.add_org(s, "unit", "机电工程学院", "s-jd", school)
        logistics = accounts.add_org(s, "unit", "后勤管理处", "s-hq", school)
        foreign_unit = accounts.add_org(s, "unit", "另一学院后勤", "o-hq", other_school)

        def user(name, org, *roles):
            return accounts.add_user(s, name, name, None, org, now, roles=list(roles),
                                     password_hash=_world_password_hash(name)).id

        ids = dict(
            security=user("security", security_unit, ("security_office", school)),
            security2=user("security2", security_unit, ("security_office", school)),
            staff=user("staff", college, ("department_staff", college)),
            staff2=user("staff2", college, ("department_staff", college)),
            head=user("head", college, ("department_head", college)),
            logistics_staff=user("logistics_staff", logistics, ("department_staff", logistics)),
            leader=user("leader", school, ("leader", school)),
            supervisor=user("supervisor", bureau, ("supervisor", bureau)),
            designer=user("designer", school, ("process_designer", school)),
            outsider=user("outsider", foreign_unit, ("department_staff", foreign_unit)),
        )
        orgs = dict(school=school.id, other_school=other_school.id, bureau=bureau.id, college=college.id,
                    logistics=logistics.id, security_unit=security_unit.id, foreign_unit=foreign_unit.id)
        uow.commit()
    return SimpleNamespace(users=SimpleNamespace(**ids), orgs=SimpleNamespace(**orgs))


REPORT = {"location": "实训楼A102", "check_item": "设备防护", "problem": "车床防护罩缺失",
          "category": "实训实验室", "source": "self_check"}


@pytest.fixture
def report_hazard(services, world, clock):
    """Factory: report a hazard as `user` (default: college staff), checked today by the test's clock."""

    def _report(user=None, **overrides):
        checked = clock.now().astimezone(CHINA).date().isoformat()
        return report_hazard_verb(services, user or world.users.staff,
                                  {**REPORT, "checked_at": checked, **overrides})

    return _report


@pytest.fixture
def open_tasks(services):
    """Factory: the open task rows of a hazard, oldest first."""

    def _open(hazard_id):
        with services.uow() as uow:
            return list(uow.session.scalars(select(HumanTask).where(
                HumanTask.hazard_id == hazard_id, HumanTask.state == "ready").order_by(HumanTask.id)))

    return _open


@pytest.fixture
def task_of(open_tasks):
    """Factory: the one open task of a hazard with this BPMN id."""

    def _task(hazard_id, bpmn_id):
        matches = [t for t in open_tasks(hazard_id) if t.bpmn_id == bpmn_id]
        assert len(matches) == 1, f"expected one open {bpmn_id}, got {[t.bpmn_id for t in open_tasks(hazard_id)]}"
        return matches[0]

    return _task


@pytest.fixture
def do(services, task_of):
    """Factory: complete the open task `bpmn_id` of a hazard as `user` with `data`."""

    def _do(hazard_id, bpmn_id, user, data):
        return services.complete_task(task_of(hazard_id, bpmn_id).id, user, data)

    return _do
