"""The application's PostgreSQL connections run without JIT (short indexed statements, which JIT only slows)."""
from __future__ import annotations

import pytest
from sqlalchemy import text


def test_application_connections_have_jit_off(services, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("JIT is a PostgreSQL setting; SQLite has none")
    with services.uow() as uow:
        assert uow.session.execute(text("SHOW jit")).scalar() == "off"
