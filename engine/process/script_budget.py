"""Time and size budgets for BPMN scripts and expressions (used by the restricted evaluator, scripting.py).

A diagram's script must not hang a worker (`while True: pass`) nor take its memory (`'a' * 1500000000`,
`10 ** 10 ** 10`). Two budgets, both enforced inside the evaluation itself, so they work in any thread (no
signals) and need no tracer:

* **time**: the compiled code checks the clock (`_budget_tick_()`) at the top of every loop iteration, every
  comprehension step, every function and lambda call. Past the deadline the check raises; every `except`
  handler and `finally` block starts with the same check, so a script cannot swallow the error and go on.
* **size**: literals over the budget are refused at compile time; at run time `*`, `**`, `<<`, `+` and `%`
  (and their augmented forms) go through `_budget_binop_`, which estimates the size of the result before
  computing it: strings, bytes, lists and tuples of more than `max_items` characters or items, integers of more
  than `max_int_digits` digits. `range()` over more than `max_items` numbers, the padding, `replace`, `join`
  and `expandtabs` methods of strings and `list.extend` are estimated the same way, and so are f-string widths.
  After the evaluation, the task data (or the expression's value) as it would be written out is measured too, at
  most `max_data_units` strings' characters and containers' items in all (shared parts counted each time). As a
  backstop for many values each within the budget (a loop keeping a million-item list per step), the clock check
  also reads the worker's resident memory every few milliseconds (Linux /proc): at most `max_memory_growth_mb`
  more than when the evaluation began.

Going over either budget raises ScriptBudgetExceeded (a ScriptNotAllowed); the script engine hands it to
SpiffWorkflow as the task's WorkflowTaskException, so it becomes an incident, or WorkflowFailed (HTTP 422).
The limits are process-wide (`configure`, from the settings when the services are built).
"""
from __future__ import annotations

import ast
import itertools
import math
import operator
import os
import re
import time
from dataclasses import dataclass

from RestrictedPython import RestrictingNodeTransformer

from engine.infra.errors import ScriptBudgetExceeded, ScriptNotAllowed

TICK = "_budget_tick_"
BINOP = "_budget_binop_"
LOG2_10 = math.log2(10)


@dataclass(frozen=True)
class ScriptLimits:
    """How long one script or expression may run and how big the values it makes may be."""

    time_seconds: float = 2.0
    max_items: int = 1_000_000  # characters of a string or bytes, items of a list or tuple, numbers of a range
    max_int_digits: int = 10_000
    max_memory_growth_mb: int = 256  # the backstop: how much the worker's resident memory may grow during one run

    @property
    def max_int_bits(self) -> int:
        return math.ceil(self.max_int_digits * LOG2_10)

    @property
    def max_data_units(self) -> int:
        return 10 * self.max_items


_limits = ScriptLimits()


def limits() -> ScriptLimits:
    """The budgets every evaluation in this process gets."""
    return _limits


def configure(new: ScriptLimits) -> None:
    """Set the budgets for this process (the composition root does, from the settings)."""
    global _limits
    if new.time_seconds <= 0 or new.max_items <= 0 or new.max_int_digits <= 0:
        raise ValueError(f"script budgets must be positive: {new}")
    _limits = new


def _what(mode: str) -> str:
    return "expression" if mode == "eval" else "script"


# -- compile time ----------------------------------------------------------------------------------

class BudgetTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy plus the budget: clock checks in every loop, call and handler; guarded operators;
    literals and f-string widths within the size budget."""

    def _refuse(self, node: ast.AST, text: str) -> None:
        self.error(node, f"exceeds the size budget: {text}")

    @staticmethod
    def _tick_call(like: ast.AST) -> ast.Call:
        return _located(ast.Call(func=ast.Name(TICK, ast.Load()), args=[], keywords=[]), like)

    def _tick_stmt(self, like: ast.AST) -> ast.Expr:
        return _located(ast.Expr(self._tick_call(like)), like)

    def visit_Constant(self, node):
        node = super().visit_Constant(node)
        value = node.value
        size = _limits
        if isinstance(value, (str, bytes)) and len(value) > size.max_items:
            self._refuse(node, f"a literal of {len(value):,} characters (at most {size.max_items:,})")
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > size.max_int_bits:
            self._refuse(node, f"an integer literal of about {_digits(value.bit_length()):,} digits "
                               f"(at most {size.max_int_digits:,})")
        return node

    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        if type(node.op) not in _GUARDED_BINOPS:
            return node
        call = ast.Call(func=ast.Name(BINOP, ast.Load()),
                        args=[ast.Constant(_GUARDED_BINOPS[type(node.op)]), node.left, node.right], keywords=[])
        return _located(call, node)

    def visit_JoinedStr(self, node):
        node = super().visit_JoinedStr(node)
        widths = 0
        for part in node.values:
            if isinstance(part, ast.FormattedValue) and part.format_spec is not None:
                spec = part.format_spec
                pieces = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
                if not all(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in pieces):
                    self.error(part, "f-string format specs must be written out, not computed")
                    continue
                widths += sum(int(n) for p in pieces for n in re.findall(r"\d+", p.value))
        if widths > _limits.max_items:
            self._refuse(node, f"f-string widths of {widths:,} characters (at most {_limits.max_items:,})")
        return node

    def visit_While(self, node):
        node = super().visit_While(node)
        node.body.insert(0, self._tick_stmt(node))
        return node

    def visit_For(self, node):
        node = super().visit_For(node)
        node.body.insert(0, self._tick_stmt(node))
        return node

    def visit_comprehension(self, node):
        node = super().visit_comprehension(node)
        node.ifs.insert(0, self._tick_call(node.iter))
        return node

    def visit_FunctionDef(self, node):
        node = super().visit_FunctionDef(node)
        node.body.insert(0, self._tick_stmt(node))
        return node

    def visit_Lambda(self, node):
        node = super().visit_Lambda(node)
        node.body = _located(ast.BoolOp(op=ast.And(), values=[self._tick_call(node.body), node.body]), node.body)
        return node

    def visit_ExceptHandler(self, node):
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, self._tick_stmt(node))  # an exhausted budget is not caught
        return node

    def visit_Try(self, node):
        node = super().visit_Try(node)
        if node.finalbody:
            node.finalbody.insert(0, self._tick_stmt(node.finalbody[0]))  # nor swallowed by break/continue there
        return node


def _located(new: ast.AST, like: ast.AST):
    """A node made by the budget, placed at the source position of the node it guards."""
    ast.copy_location(new, like)
    for child in ast.walk(new):
        if "lineno" in child._attributes and not hasattr(child, "lineno"):
            ast.copy_location(child, like)
    return new


_GUARDED_BINOPS = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Add: "+", ast.Mod: "%"}


def _digits(bits: float) -> int:
    return max(1, int(bits / LOG2_10))


# -- run time --------------------------------------------------------------------------------------

_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "<<": operator.lshift,
              ">>": operator.rshift, "&": operator.and_, "|": operator.or_, "^": operator.xor}
_SEQUENCES = (str, bytes, bytearray, list, tuple)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?([a-zA-Z%])")
_GUARDED_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join", "translate"}


def _kind(value) -> str:
    if isinstance(value, str):
        return "a string of {n:,} characters"
    if isinstance(value, (bytes, bytearray)):
        return "bytes of {n:,} bytes"
    return f"a {type(value).__name__} of {{n:,}} items"


def _is_int(value) -> bool:
    return isinstance(value, int)


class BudgetRun:
    """One evaluation's budget: its deadline and the guards its compiled code calls."""

    def __init__(self, mode: str, source: str, budget: ScriptLimits | None = None):
        self.limits = budget or _limits
        self.what = _what(mode)
        self.source = source
        self.deadline = time.monotonic() + self.limits.time_seconds
        self.exceeded: ScriptBudgetExceeded | None = None
        self.memory_at_start = _resident_bytes()
        self.next_memory_check = 0.0

    # The names the compiled code refers to (put into its globals next to RestrictedPython's guards).
    def globals(self, getattr_) -> dict:
        def guarded_getattr(obj, name, default=None):
            value = getattr_(obj, name, default)
            if name in _GUARDED_METHODS and isinstance(obj, (str, bytes)) or name == "extend" and isinstance(obj, list):
                return _Method(self, obj, name, value)
            if (obj is str or obj is bytes or obj is list) and (name in _GUARDED_METHODS or name == "extend"):
                return lambda target, *args, **kwargs: guarded_getattr(target, name)(*args, **kwargs)  # str.ljust(s, n)
            return value

        return {TICK: self.tick, BINOP: self.binop, "_getattr_": guarded_getattr, "_inplacevar_": self.inplace}

    def builtins(self) -> dict:
        return {"range": self.range, "round": self.round, "sum": self.sum}

    # -- time
    def tick(self) -> bool:
        if self.exceeded is not None:
            raise self.exceeded
        now = time.monotonic()
        if now > self.deadline:
            self._fail(f"exceeded its time budget of {self.limits.time_seconds:g} s")
        if now >= self.next_memory_check and self.memory_at_start is not None:
            self.next_memory_check = now + MEMORY_CHECK_SECONDS
            self._check_memory()
        return True

    def _check_memory(self) -> None:
        # Many values each within the size budget can still add up (a loop keeping a million-item list per step).
        grown = (_resident_bytes() or 0) - self.memory_at_start
        if grown > self.limits.max_memory_growth_mb * 2 ** 20:
            self._fail(f"exceeded its size budget: its values took {grown // 2 ** 20:,} MB of the worker's memory "
                       f"(at most {self.limits.max_memory_growth_mb:,} MB)")

    def _fail(self, text: str):
        self.exceeded = ScriptBudgetExceeded(f"BPMN {self.what} {text}: {excerpt(self.source)}")
        raise self.exceeded

    def _too_big(self, what: str) -> None:
        self._fail(f"exceeded its size budget: it would make {what}")

    # -- size
    def _check_items(self, n: int, like) -> None:
        if n > self.limits.max_items:
            self._too_big(_kind(like).format(n=n) + f" (at most {self.limits.max_items:,})")
        if n > self.limits.max_items // 16 and self.memory_at_start is not None:
            self._check_memory()  # a big value is about to be made: is there room left?

    def _check_bits(self, bits: float) -> None:
        if bits > self.limits.max_int_bits:
            self._too_big(f"an integer of about {_digits(bits):,} digits (at most {self.limits.max_int_digits:,})")

    def binop(self, op: str, a, b):
        self.tick()
        if op == "*":
            if isinstance(a, _SEQUENCES) and _is_int(b):
                self._check_items(len(a) * max(b, 0), a)
            elif isinstance(b, _SEQUENCES) and _is_int(a):
                self._check_items(len(b) * max(a, 0), b)
            elif _is_int(a) and _is_int(b):
                self._check_bits(a.bit_length() + b.bit_length())
        elif op == "**":
            if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
                self._check_bits(b * math.log2(abs(a)))
        elif op == "<<":
            if _is_int(a) and _is_int(b) and a != 0 and b > 0:
                self._check_bits(a.bit_length() + b)
        elif op == "+":
            if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
                self._check_items(len(a) + len(b), a)
        elif op == "%":
            if isinstance(a, (str, bytes)):
                self._check_percent(a)
        return _OPERATORS[op](a, b)

    def _check_percent(self, fmt) -> None:
        text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
        widths = 0
        for width, precision, _conv in _PERCENT_SPEC.findall(text):
            if "*" in (width, precision):
                self._fail("uses a '*' width in %-formatting, which the size budget cannot check")
            widths += int(width or 0) + int(precision or 0)
        if widths > self.limits.max_items:
            self._too_big(f"%-format widths of {widths:,} characters (at most {self.limits.max_items:,})")

    def inplace(self, op: str, x, y):
        if not op.endswith("=") or op[:-1] not in _OPERATORS:
            raise ScriptNotAllowed(f"operator {op} is not allowed in BPMN scripts")
        return self.binop(op[:-1], x, y)

    def range(self, *args):
        self.tick()
        numbers = range(*args)
        try:
            n = len(numbers)
        except OverflowError:
            n = math.inf
        if n > self.limits.max_items:
            self._too_big(f"a range of {n:,} numbers (at most {self.limits.max_items:,})" if n != math.inf
                          else f"a range of more than {self.limits.max_items:,} numbers")
        return numbers

    def round(self, number, ndigits=None):
        if ndigits is not None and _is_int(ndigits) and abs(ndigits) > self.limits.max_int_digits:
            self._too_big(f"a rounding to {ndigits:,} digits (at most {self.limits.max_int_digits:,})")
        return round(number) if ndigits is None else round(number, ndigits)

    def sum(self, iterable, /, start=0):
        if isinstance(start, _SEQUENCES):  # concatenation: each step is checked like `+`
            total = start
            for item in iterable:
                total = self.binop("+", total, item)
            return total
        return sum(iterable, start)

    def method(self, obj, name: str, bound, args: tuple, kwargs: dict):
        self.tick()
        if name == "join":
            items = list(args[0]) if args else []
            n = sum(len(i) for i in items if isinstance(i, (str, bytes))) + len(obj) * max(len(items) - 1, 0)
            self._check_items(n, obj)
            return bound(items)
        if name == "extend":
            items = args[0] if args else ()
            if not hasattr(items, "__len__"):
                items = list(items)
            self._check_items(len(obj) + len(items), obj)
            return bound(items)
        if name in ("ljust", "rjust", "center", "zfill"):
            width = args[0] if args else kwargs.get("width", 0)
            if _is_int(width):
                self._check_items(width, obj)
        elif name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            if _is_int(tabsize):
                self._check_items(len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * tabsize, obj)
        elif name == "translate" and isinstance(obj, str) and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            self._check_items(len(obj) * max(longest, 1), obj)
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)) and _is_int(count):
                found = len(obj) + 1 if not old else obj.count(old)
                if count >= 0:
                    found = min(found, count)
                self._check_items(len(obj) + found * max(len(new) - len(old), 0), obj)
        return bound(*args, **kwargs)

    def check_data(self, values) -> None:
        """The values as they would be written out stay within the data budget (a part shared by several
        containers counts each time, as it would in JSON; a container holding itself never fits)."""
        limit, memo, keep = self.limits.max_data_units, {}, []
        total = 0
        for value in values:
            total += _written_size(value, limit - total, memo, keep)
            if total > limit:
                self._too_big(f"data of more than {limit:,} characters and items")


_CONTAINERS = (dict, list, tuple, set, frozenset)
_END = object()


def _children(value):
    return itertools.chain(value.keys(), value.values()) if isinstance(value, dict) else iter(value)


def _written_size(root, limit: int, memo: dict[int, int], keep: list) -> float:
    """Characters of strings plus items of containers in `root` written out, or more than `limit` (stops there)."""
    if not isinstance(root, _CONTAINERS):
        return len(root) + 1 if isinstance(root, (str, bytes, bytearray)) else 1
    if id(root) in memo:
        return memo[id(root)]
    stack = [[root, _children(root), len(root) + 1]]
    on_path = {id(root)}
    while stack:
        frame = stack[-1]
        child = next(frame[1], _END)
        if child is _END:
            stack.pop()
            on_path.discard(id(frame[0]))
            memo[id(frame[0])] = frame[2]
            keep.append(frame[0])  # ids stay unique while the memo lives
            if not stack:
                return frame[2]
            stack[-1][2] += frame[2]
        elif not isinstance(child, _CONTAINERS):
            frame[2] += len(child) + 1 if isinstance(child, (str, bytes, bytearray)) else 1
        elif id(child) in memo:
            frame[2] += memo[id(child)]
        elif id(child) in on_path:
            return math.inf
        else:
            on_path.add(id(child))
            stack.append([child, _children(child), len(child) + 1])
            continue
        if stack[-1][2] > limit:
            return math.inf
    return math.inf  # not reached


class _Method:
    """A string's or list's method whose result size the budget estimates first."""

    __slots__ = ("_run", "_obj", "_name", "_bound")

    def __init__(self, run: BudgetRun, obj, name: str, bound):
        self._run, self._obj, self._name, self._bound = run, obj, name, bound

    def __call__(self, *args, **kwargs):
        return self._run.method(self._obj, self._name, self._bound, args, kwargs)


MEMORY_CHECK_SECONDS = 0.005
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int | None:
    """This process's resident memory (Linux /proc), or None where it cannot be read (the backstop is off)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


def excerpt(source: str) -> str:
    """The source on one line, cut to 80 characters, quoted."""
    text = " ".join(source.split())
    return repr(text if len(text) <= 80 else text[:77] + "...")
