"""The engine assembled: the process core's services with every subject plugged into its hooks.

This is the one place that knows all subjects. The web app, the CLI, the scheduler, the tests and the
benchmarks build their services here, so a registered hook can never be missing in one of them.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import sessionmaker

from engine.assessment import models as _assessment_tables  # noqa: F401  (annual assessment)
from engine.assessment import service as assessment
from engine.campaigns import service as campaigns
from engine.drills import service as drills
from engine.infra.clock import Clock
from engine.infra.db import Base
from engine.process.hooks import Hooks
from engine.process.runtime import BpmnRuntime
from engine.process.services import Services
from engine.rectification import hazards, notices
from engine.reports import models as _report_tables  # noqa: F401  (statistics snapshots)
from engine.schedules import models as _schedule_tables  # noqa: F401  (recurring inspections)
from engine.schedules import service as schedules

# Importing the subjects above registered their tables.
metadata = Base.metadata  # every table, for Alembic and for tests that create the schema directly


def register_subjects(hooks: Hooks) -> Hooks:
    """Plug every subject into the process core's extension points."""
    hazards.register(hooks)
    notices.register(hooks)
    campaigns.register(hooks)
    schedules.register(hooks)
    assessment.register(hooks)
    drills.register(hooks)
    return hooks


def assemble(session_factory: sessionmaker, clock: Clock, bpmn_dir: Path, runtime: BpmnRuntime | None = None,
             evidence_store=None) -> Services:
    """The engine's services over one session factory, with every subject registered."""
    return Services(session_factory, clock, bpmn_dir, runtime=runtime, evidence_store=evidence_store,
                    hooks=register_subjects(Hooks()))
