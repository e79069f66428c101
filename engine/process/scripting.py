"""The restricted evaluator for BPMN scripts, conditions and expressions.

SpiffWorkflow's default environment is plain eval/exec. Here every source is checked by our own
AST rules (no imports) and compiled by RestrictedPython (no dunder or underscore names, guarded
attribute and item access), then run with a small list of builtins and time helpers: `datetime` and
`timedelta` (SpiffWorkflow's own tests give scripts these; `datetime.now()` reads the engine's clock).
Every evaluation runs under a time and a size budget (engine/process/script_budget.py): going over raises
ScriptBudgetExceeded, which SpiffWorkflow gets as the task's WorkflowTaskException (an incident, or HTTP 422).
"""
from __future__ import annotations

import ast
import json
from contextvars import ContextVar
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from RestrictedPython import compile_restricted
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
)

from engine.infra.clock import Clock
from engine.infra.errors import ScriptBudgetExceeded, ScriptNotAllowed
from engine.process import script_budget
from engine.process.operators import pending_effects, run_operator
from engine.process.script_budget import BudgetRun, BudgetTransformer, ScriptLimits, excerpt

_SAFE_BUILTIN_NAMES = (
    "abs all any bool dict divmod enumerate filter float frozenset int isinstance len list map max min "
    "range reversed round set sorted str sum tuple zip"
).split()
_SAFE_CONSTANTS = {"None": None, "True": True, "False": False}
_SAFE_EXCEPTIONS = ("ValueError", "KeyError", "TypeError", "IndexError", "ZeroDivisionError")

_BUILTINS: dict = {name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
                   for name in _SAFE_BUILTIN_NAMES + list(_SAFE_EXCEPTIONS)}
_BUILTINS.update(_SAFE_CONSTANTS)


active_clock: ContextVar[Clock | None] = ContextVar("rectiflow_clock", default=None)


class ClockDatetime(datetime):
    """Stands in for `datetime` inside SpiffWorkflow's timer module so timers read the engine's clock."""

    @classmethod
    def now(cls, tz=None):
        clock = active_clock.get()
        if clock is None:
            return datetime.now(tz)
        now = clock.now()
        return now.astimezone(tz) if tz is not None else now.astimezone().replace(tzinfo=None)


class ScriptDatetime:
    """`datetime` as scripts see it: it makes plain datetime values (stored like any task data); now(), today()
    and utcnow() read the engine's clock. It also answers as the module, `datetime.datetime.utcnow()` and
    `datetime.timedelta(...)`, as the spiff-example-cli tutorial writes it. Attributes with an underscore stay
    out of reach (RestrictedPython's safer_getattr)."""

    def __new__(cls, *args, **kwargs):
        return datetime(*args, **kwargs)

    @staticmethod
    def now(tz=None) -> datetime:
        return datetime.fromisoformat(ClockDatetime.now(tz).isoformat())  # a plain datetime, not the subclass

    @staticmethod
    def today() -> datetime:
        return ScriptDatetime.now()

    @staticmethod
    def utcnow() -> datetime:
        return ScriptDatetime.now(timezone.utc).replace(tzinfo=None)

    fromisoformat = staticmethod(datetime.fromisoformat)
    fromtimestamp = staticmethod(datetime.fromtimestamp)
    strptime = staticmethod(datetime.strptime)
    combine = staticmethod(datetime.combine)


ScriptDatetime.datetime = ScriptDatetime
ScriptDatetime.date = date
ScriptDatetime.timedelta = timedelta
ScriptDatetime.timezone = timezone

# Names every script and expression sees unless the task data has a value of that name (the data wins).
TIME_HELPERS = {"datetime": ScriptDatetime, "timedelta": timedelta}


# RestrictedPython's guards; `_getattr_`, `_inplacevar_` and the budget's own names come from each BudgetRun.
_GUARDS = {
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
}


def configure_budget(limits: ScriptLimits) -> None:
    """Set the time and size budgets of every script and expression in this process (from the settings)."""
    script_budget.configure(limits)
    compile_checked.cache_clear()  # literals are checked against the size budget when compiled


def _check_ast(source: str, mode: str) -> None:
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptNotAllowed(f"syntax error in BPMN {_what(mode)} {source!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            raise ScriptNotAllowed(f"imports are not allowed in BPMN scripts: {source.strip()!r}")
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.ClassDef, ast.AsyncFunctionDef, ast.Await)):
            raise ScriptNotAllowed(f"{type(node).__name__} is not allowed in BPMN scripts: {source.strip()!r}")


def _what(mode: str) -> str:
    return "expression" if mode == "eval" else "script"


@lru_cache(maxsize=2048)
def compile_checked(source: str, mode: str):
    """Compile a BPMN script ('exec') or expression ('eval') under the restrictions, or raise ScriptNotAllowed."""
    _check_ast(source, mode)
    try:
        return compile_restricted(source, filename="<bpmn>", mode=mode, policy=BudgetTransformer)
    except SyntaxError as exc:
        raise ScriptNotAllowed(f"BPMN {_what(mode)} {excerpt(source)} is not allowed: {exc}") from None


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that never calls plain eval/exec on diagram text."""

    def _base_globals(self, external_context: dict | None, run: BudgetRun) -> dict:
        env = {"__builtins__": {**_BUILTINS, **run.builtins()}, **_GUARDS, **run.globals(safer_getattr),
               **TIME_HELPERS}
        env.update(self.globals)
        env.update(external_context or {})
        return env

    def evaluate(self, expression, context, external_context=None):
        code = compile_checked(expression, "eval")
        run = BudgetRun("eval", expression)
        env = self._base_globals(external_context, run)
        env.update(context)
        value = eval(code, env)  # noqa: S307 - code was compiled by RestrictedPython above
        run.check_data([value])
        return value

    def execute(self, script, context, external_context=None):
        if not (script or "").strip():
            return True  # a script task with no script does nothing (SpiffArena's models have such placeholders)
        code = compile_checked(script, "exec")
        run = BudgetRun("exec", script)
        injected = {k: v for k, v in self._base_globals(external_context, run).items()
                    if not (k in TIME_HELPERS and k in context)}
        clash = set(self.globals).intersection(context)
        if clash:
            raise ScriptNotAllowed(f"task data overwrites predefined names: {sorted(clash)}")
        # One namespace for script and data, as SpiffWorkflow does, so comprehensions see task data.
        context.update(injected)
        try:
            exec(code, context)  # noqa: S102 - code was compiled by RestrictedPython above
        finally:
            for key in list(context):
                if key in injected or callable(context[key]):
                    context.pop(key, None)
        run.check_data(context.values())  # the task data as it will be stored
        return True

    def call_service(self, context, operation_name=None, operation_params=None, effects=None, element_id="",
                     **kwargs):
        """Run a registered service-task operator (engine/process/operators.py); its result as JSON text."""
        result = run_operator(operation_name or "", operation_params or {}, context,
                              effects if effects is not None else [], element_id)
        return json.dumps(result, default=str, ensure_ascii=False)


class RestrictedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine, bound to the restricted environment."""

    def __init__(self, functions: dict | None = None):
        super().__init__(environment=RestrictedEnvironment(functions or {}))

    def evaluate(self, task, expression, external_context=None):
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as exc:
            raise _budget_failure(exc, task) or exc

    def execute(self, task, script, external_context=None):
        try:
            return super().execute(task, script, external_context)
        except WorkflowTaskException as exc:
            raise _budget_failure(exc, task) or exc

    def validate(self, expression):
        # SpiffWorkflow's DMN engine tells a comparison entry (`< 10`) from a value (`"a"`) by catching SyntaxError.
        ast.parse(expression, mode="eval")
        compile_checked(expression, "eval")

    def call_service(self, task, **kwargs):
        """A service task: its operator notes effects on the workflow (sent through the outbox when stored)."""
        # SpiffWorkflow's own call_service refers to an undefined `script` when the service raises; this one
        # reports the failing task the way scripts do.
        try:
            return self.environment.call_service(task.data, effects=pending_effects(task.workflow),
                                                 element_id=task.task_spec.bpmn_id or task.task_spec.name, **kwargs)
        except Exception as exc:
            raise WorkflowTaskException(f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}",
                                        task=task, exception=exc) from exc


def _budget_failure(exc: WorkflowTaskException, task) -> WorkflowTaskException | None:
    """The task's error when `exc` wraps an exhausted budget: its own message, not "Error evaluating expression"."""
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, ScriptBudgetExceeded):
            failure = WorkflowTaskException(link.message, task=task, exception=link)
            failure.__cause__ = link
            return failure
        link = link.__cause__ or link.__context__
    return None


def evaluate_expression(expression: str, data: dict):
    """Evaluate a diagram expression (e.g. a task property) against task data, restricted."""
    return RestrictedEnvironment().evaluate(expression, dict(data))
