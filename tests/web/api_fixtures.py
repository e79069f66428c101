"""Fixtures for the REST API tests: the real app (create_app) on the test database, a token per world user."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.infra.config import Settings
from engine.org import tokens
from engine.rectification.attachments import EvidenceStore
from web.app import create_app

REGISTER = {"grade": "general", "responsible_person": "刘院长", "deadline": "2026-11-09"}


@pytest.fixture
def api_app(services, world, tmp_path):
    """The web app around the test services, with CSRF on as in production."""
    services.evidence_store = EvidenceStore(tmp_path / "uploads", max_bytes=64 * 1024)
    return create_app(Settings(secret_key="test-secret", upload_dir=tmp_path / "uploads"), services=services,
                      config={"TESTING": True})


@pytest.fixture
def api(api_app, services, world):
    """call(user, method, path, **kwargs) with that user's bearer token; user=None sends none."""
    client = api_app.test_client()
    plaintexts = {name: tokens.create_token(services, user_id, "tests")[1]
                  for name, user_id in vars(world.users).items()}

    def call(user: str | None, method: str, path: str, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {plaintexts[user]}"
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return SimpleNamespace(call=call, client=client, tokens=plaintexts)
