"""Builds the engine's services from settings; used by the web app, the CLI and the scheduler alike."""
from __future__ import annotations

from engine.attachments import EvidenceStore
from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.db import make_engine, make_session_factory
from engine.services import Services


def build_services(settings: Settings | None = None, clock: Clock | None = None) -> Services:
    """One set of services over one connection pool; nothing connects until first use."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url, echo=settings.echo_sql)
    return Services(make_session_factory(engine), clock or SystemClock(), settings.bpmn_dir,
                    evidence_store=EvidenceStore.from_settings(settings))
