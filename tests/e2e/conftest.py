"""A live server on the demo school and a real headless Chromium (Debian's `chromium`, driven by Playwright)."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine.assembly import assemble
from engine.demo import build_demo
from engine.infra.config import Settings
from engine.infra.db import make_engine, make_session_factory
from engine.infra.schema import upgrade
from engine.rectification.attachments import EvidenceStore

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--lang=zh-CN"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium NOT INSTALLED: browser tests skipped (apt-get install -y chromium)")
    return path


@pytest.fixture
def live_server(tmp_path, clock, bpmn_dir):
    """The app on a fresh SQLite demo database, served on a free port in a background thread."""
    from web.app import create_app

    url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    services = assemble(make_session_factory(engine), clock, bpmn_dir)
    services.deploy_directory()
    services.evidence_store = EvidenceStore(tmp_path / "uploads")
    build_demo(services)
    app = create_app(Settings(database_url=url, secret_key="e2e-secret"), services=services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    engine.dispose()


@pytest.fixture
def browser():
    """Headless Chromium; closed after the test."""
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def screenshots() -> Path:
    """The folder e2e tests save screenshots into (gitignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
