"""Fixtures for the page tests: the app on the test database, a signed-in client per user, a hazard factory."""
from __future__ import annotations

import re

import pytest

from engine.infra.config import Settings
from engine.rectification.attachments import EvidenceStore
from web.app import create_app

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture
def app(services, world, tmp_path):
    """The web app around the test services (CSRF off here; one test checks it is on by default)."""
    services.evidence_store = EvidenceStore(tmp_path / "uploads", max_bytes=1024 * 1024)
    return create_app(Settings(secret_key="test-secret"), services=services,
                      config={"TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def login(app, world):
    """Factory: a test client signed in as one of the `world` users (password pw-<name>)."""

    def _login(name: str):
        client = app.test_client()
        response = client.post("/login", data={"username": name, "password": f"pw-{name}"})
        assert response.status_code == 302, f"{name} could not sign in"
        return client

    return _login


def task_ids(html: str, testid: str = "claim") -> list[int]:
    """Task ids of the claim buttons (or another per-task test id) on an inbox page."""
    return [int(v) for v in re.findall(rf'data-testid="{testid}-(\d+)"', html)]


def field_error(html: str, name: str) -> str | None:
    """The error message shown at a form field, if any."""
    match = re.search(rf'data-testid="error-{name}">([^<]+)<', html)
    return match.group(1).strip() if match else None
