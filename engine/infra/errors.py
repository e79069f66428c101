"""Domain errors: every refusal the engine makes has a name and a clear message."""
from __future__ import annotations


class RectiflowError(Exception):
    """Base class of every error the services raise on purpose."""

    code = "error"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(RectiflowError):
    code = "not_found"


class NotAllowed(RectiflowError):
    code = "not_allowed"


class PasswordChangeRequired(NotAllowed):
    """The user must choose a new password (first sign-in, or after a reset) before doing anything else."""

    code = "password_change_required"


class TaskAlreadyClaimed(RectiflowError):
    code = "task_already_claimed"


class StaleTask(RectiflowError):
    """The task was completed, cancelled or changed by someone else first."""

    code = "stale_task"


class ConcurrentUpdate(RectiflowError):
    """Another transaction advanced the same process instance first."""

    code = "concurrent_update"


class Conflict(RectiflowError):
    """The request is well formed, but the record's current state refuses it (a signed self-check, a second notice)."""

    code = "conflict"


class InvalidFormData(RectiflowError):
    code = "invalid_form_data"

    def __init__(self, message: str, errors: list[dict]):
        super().__init__(message, errors=errors)
        self.errors = errors

    @property
    def field(self) -> str | None:
        """The first offending field, for callers that show one message."""
        return self.errors[0]["field"] if self.errors else None


class InvalidDiagram(RectiflowError):
    """A diagram or bundle refused at validate or deploy; `errors` lists its findings (engine.process.findings)."""

    code = "invalid_diagram"

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message, errors=errors or [])
        self.errors = errors or []


class ScriptNotAllowed(RectiflowError):
    """A BPMN script or expression uses something the restricted evaluator forbids."""

    code = "script_not_allowed"


class ScriptBudgetExceeded(ScriptNotAllowed):
    """A BPMN script or expression ran past its time budget or would have made a value past its size budget."""

    code = "script_budget_exceeded"


class WorkflowFailed(RectiflowError):
    """The BPMN engine raised while advancing; nothing was stored."""

    code = "workflow_failed"
