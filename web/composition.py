"""Builds the engine's services from settings; used by the web app, the CLI and the scheduler alike."""
from __future__ import annotations

from engine.assembly import assemble
from engine.infra.clock import Clock, SystemClock
from engine.infra.config import Settings
from engine.infra.db import make_engine, make_session_factory
from engine.process.script_budget import ScriptLimits
from engine.process.scripting import configure_budget
from engine.process.services import Services
from engine.rectification.attachments import EvidenceStore


def build_services(settings: Settings | None = None, clock: Clock | None = None) -> Services:
    """One set of services over one connection pool; nothing connects until first use."""
    settings = settings or Settings.from_env()
    configure_budget(ScriptLimits(time_seconds=settings.script_time_budget, max_items=settings.script_size_budget))
    engine = make_engine(settings.database_url, echo=settings.echo_sql)
    return assemble(make_session_factory(engine), clock or SystemClock(), settings.bpmn_dir,
                    evidence_store=EvidenceStore.from_settings(settings))
