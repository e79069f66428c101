"""The states a human task and a process instance may be in: the values the CHECK constraints allow.

They live apart from engine/process/lifecycle.py only because the models (and candidates.py) need them and the
lifecycle needs the models; everything above the models imports them from engine.process.lifecycle.
"""
from __future__ import annotations

from enum import StrEnum


# StrEnum, not (str, Enum): str() and f-strings give the value, so "task 7 is already completed" reads as before.
class TaskState(StrEnum):
    """The states of a human task row (CHECK constraint ck_human_tasks_state)."""

    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class InstanceState(StrEnum):
    """The states of a process instance (CHECK constraint ck_process_instances_status)."""

    RUNNING = "running"
    COMPLETED = "completed"
    SUPERSEDED = "superseded"  # a look-back reopened the hazard in a new instance
    CANCELLED = "cancelled"  # an administrator stopped it, with a reason (Services.cancel_instance)


def check_clause(column: str, states: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint that keeps `column` to the values of `states`."""
    return f"{column} IN ({', '.join(repr(state.value) for state in states)})"
